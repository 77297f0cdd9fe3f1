"""Algorithmic tasks of the meta-tokens paper (arXiv 2509.16278, Sec. 5): copy, parity, counting."""

from __future__ import annotations

import numpy as np

from attnlab.tasks.base import Task, frame
from attnlab.tasks.vocab import BOS, EOS, FIRST, QUERY, SEP


def copy_vocab_size(n_symbols: int = 32, **_) -> int:
    return FIRST + n_symbols


def copy(n: int, seed: int, seq_len: int = 128, n_symbols: int = 32):
    """BOS x1..xm SEP x1..xm EOS with m = (seq_len − 3) // 2; targets: the copy and EOS."""
    m_len = (seq_len - 3) // 2
    rng = np.random.default_rng(seed)
    seqs, masks = [], []
    for _ in range(n):
        x = FIRST + rng.integers(0, n_symbols, m_len)
        s = np.concatenate([[BOS], x, [SEP], x, [EOS]])
        m = np.zeros(len(s), dtype=bool)
        m[m_len + 2 :] = True
        seqs.append(s), masks.append(m)
    return frame("copy", seqs, masks, seq_len=seq_len)


# ids: bit 0 = FIRST, bit 1 = FIRST + 1
def parity_vocab_size(**_) -> int:
    return FIRST + 2


def parity(n: int, seed: int, seq_len: int = 128):
    """BOS b1..bm SEP p EOS, p = (Σ b) mod 2, m = seq_len − 4; targets: p and EOS."""
    m_len = seq_len - 4
    rng = np.random.default_rng(seed)
    seqs, masks, answers = [], [], []
    for _ in range(n):
        bits = rng.integers(0, 2, m_len)
        p = int(bits.sum() % 2)
        s = np.concatenate([[BOS], FIRST + bits, [SEP, FIRST + p, EOS]])
        m = np.zeros(len(s), dtype=bool)
        m[-2:] = True
        seqs.append(s), masks.append(m), answers.append(p)
    return frame("parity", seqs, masks, seq_len=seq_len, answer=answers)


# ids: symbols FIRST..+n_symbols, numbers 0..max_count next
def counting_vocab_size(n_symbols: int = 16, max_count: int = 31, **_) -> int:
    return FIRST + n_symbols + max_count + 1


def counting(n: int, seed: int, seq_len: int = 128, n_symbols: int = 16, max_count: int = 31):
    """BOS x1..xm QUERY s c EOS, c = #{i: x_i = s} (drawn uniform in 0..max_count, the other symbols
    fill the rest); targets: c and EOS. m = seq_len − 5."""
    m_len = seq_len - 5
    if max_count > m_len or n_symbols < 2:
        raise ValueError("counting: need max_count <= seq_len - 5 and n_symbols >= 2")
    rng = np.random.default_rng(seed)
    n0 = FIRST + n_symbols
    seqs, masks, counts = [], [], []
    for _ in range(n):
        sym = int(rng.integers(n_symbols))
        c = int(rng.integers(0, max_count + 1))
        others = np.delete(np.arange(n_symbols), sym)
        x = np.concatenate([np.full(c, sym), rng.choice(others, m_len - c)])
        rng.shuffle(x)
        s = np.concatenate([[BOS], FIRST + x, [QUERY, FIRST + sym, n0 + c, EOS]])
        m = np.zeros(len(s), dtype=bool)
        m[-2:] = True
        seqs.append(s), masks.append(m), counts.append(c)
    return frame("counting", seqs, masks, seq_len=seq_len, answer=counts)


TASKS = [
    Task("copy", copy, copy_vocab_size),
    Task("parity", parity, parity_vocab_size),
    Task("counting", counting, counting_vocab_size),
]

"""Invariants of the synthetic task suite: determinism, shapes, vocabularies and correct answers."""

import numpy as np
import pandas as pd
import pytest

from attnlab.cli import StepArgs
from attnlab.tasks import TASKS, synth
from attnlab.tasks.markov import transition_matrices
from attnlab.tasks.vocab import BOS, EOS, FIRST, KEY, QUERY, SEP, VAL


def rows(df):
    return [(np.asarray(s), np.asarray(m)) for s, m in zip(df.input_ids, df.target_mask)]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_deterministic_in_vocab_and_masks_aligned(name):
    task = TASKS[name]
    a, b, c = task.generate(20, seed=1), task.generate(20, seed=1), task.generate(20, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a.input_ids, b.input_ids))
    assert not all(np.array_equal(x, y) for x, y in zip(a.input_ids, c.input_ids))
    for s, m in rows(a):
        assert s[0] == BOS and len(s) == len(m) and m.any() and not m[0]
        assert s.min() >= 0 and s.max() < task.vocab_size()


def test_mqar_answers_are_the_paired_values():
    df = TASKS["mqar"].generate(50, seed=0, seq_len=64, n_pairs=8)
    for s, m in rows(df):
        kv = dict(zip(s[1:17:2], s[2:18:2]))
        assert len(kv) == 8
        targets = np.flatnonzero(m)
        assert len(targets) == 8 and targets.min() > 16
        for t in targets:
            assert kv[s[t - 1]] == s[t]


def test_mqar_more_queries_than_pairs_query_every_key_then_repeat():
    df = TASKS["mqar"].generate(30, seed=1, seq_len=64, n_pairs=4, n_queries=16)
    for s, m in rows(df):
        kv = dict(zip(s[1:9:2], s[2:10:2]))
        targets = np.flatnonzero(m)
        assert len(targets) == 16 and targets.min() > 8
        assert all(kv[s[t - 1]] == s[t] for t in targets)
        assert {s[t - 1] for t in targets} == set(kv)  # every key asked at least once
    # at most as many queries as pairs: the sequences are unchanged
    a = TASKS["mqar"].generate(5, seed=2, seq_len=64, n_pairs=8)
    b = TASKS["mqar"].generate(5, seed=2, seq_len=64, n_pairs=8, n_queries=8)
    assert all((x == y).all() for x, y in zip(a.input_ids, b.input_ids))


def test_needle_depth_length_and_answer():
    df = TASKS["needle"].generate(3, seed=0, lengths=[64, 128], depths=[0.0, 0.5, 1.0])
    assert len(df) == 18 and set(df.seq_len) == {64, 128}
    for (s, m), (_, r) in zip(rows(df), df.iterrows()):
        assert len(s) == r.seq_len
        p = r.needle_pos
        assert s[p] == KEY and s[p + 2] == VAL
        assert list(s[-6:-3]) == [QUERY, KEY, s[p + 1]] and s[-2] == s[p + 3] and s[-1] == EOS
        assert list(np.flatnonzero(m)) == [len(s) - 2, len(s) - 1]
    shallow, deep = df[df.depth == 0.0], df[df.depth == 1.0]
    assert shallow.needle_pos.max() == 1 and (deep.needle_pos > deep.seq_len - 15).all()


def test_list_recall_recalls_the_named_list():
    df = TASKS["list_recall"].generate(30, seed=0, seq_len=128, list_len=5)
    for (s, m), (_, r) in zip(rows(df), df.iterrows()):
        name = s[-7]
        assert s[-8] == QUERY and s[-1] == EOS
        start = int(np.flatnonzero(s[:-8] == name)[0])
        assert (start - 1) // 7 == r.query_list
        assert np.array_equal(s[start + 1 : start + 6], s[-6:-1]) and s[start + 6] == SEP
        assert m.sum() == 6 and m[-6:].all()
    longer = TASKS["list_recall"].generate(5, seed=0, seq_len=256, list_len=5)
    assert (longer.n_lists > df.n_lists.max()).all()


def test_list_recall_with_several_queries_recalls_each_named_list():
    one = TASKS["list_recall"].generate(20, seed=3, seq_len=64, list_len=4, n_names=48, n_items=16)
    df = TASKS["list_recall"].generate(20, seed=3, seq_len=64, list_len=4, n_names=48, n_items=16, n_queries=4)
    assert (df.n_lists == one.n_lists).all() and (df.length == one.length + 3 * 7).all()  # same lists, 3 more query blocks
    for (s, m), (_, r) in zip(rows(df), df.iterrows()):
        n = int(r.n_lists)
        body = s[1 : 1 + 6 * n].reshape(n, 6)
        assert (body[:, 5] == SEP).all()
        qs = np.flatnonzero(s == QUERY)
        assert len(qs) == 4 and list(qs) == [1 + 6 * n + 7 * i for i in range(4)]
        asked = []
        for q in qs:  # "QUERY name items EOS": the items are the named list's, items and EOS targets
            row = int(np.flatnonzero(body[:, 0] == s[q + 1])[0])
            assert np.array_equal(s[q + 2 : q + 6], body[row, 1:5]) and s[q + 6] == EOS
            assert m[q + 2 : q + 7].all() and not m[q : q + 2].any()
            asked.append(row)
        assert len(set(asked)) == 4 and asked[0] == r.query_list  # distinct lists, the first is query_list
        assert m.sum() == 4 * 5 and not m[: qs[0]].any()
    with pytest.raises(ValueError, match="n_queries"):
        TASKS["list_recall"].generate(1, seed=0, seq_len=64, list_len=4, n_names=48, n_items=16, n_queries=10)


def test_needle_with_several_queries_asks_distinct_needles_and_keeps_the_length():
    kw = dict(lengths=[64, 128], depths=[0.0, 0.5, 1.0], n_keys=8, n_values=8, key_len=2, value_len=3,
              shared_vocab=True, n_distractors=3)
    df = TASKS["needle"].generate(4, seed=2, n_queries=3, **kw)
    for (s, m), (_, r) in zip(rows(df), df.iterrows()):
        assert len(s) == r.seq_len and s[-1] == EOS
        qs = np.flatnonzero(s == QUERY)
        assert len(qs) == 3 and list(qs) == [len(s) - 9 * (3 - i) for i in range(3)]
        starts = np.flatnonzero(s[: qs[0]] == KEY)
        table = {tuple(s[p + 1 : p + 3]): tuple(s[p + 4 : p + 7]) for p in starts}
        assert len(starts) == 4 and len(table) == 4 and r.needle_pos in starts
        keys = [tuple(s[q + 2 : q + 4]) for q in qs]
        assert len(set(keys)) == 3 and tuple(s[r.needle_pos + 1 : r.needle_pos + 3]) in keys
        for q, k in zip(qs, keys):  # "QUERY KEY k VAL v EOS": v is the value of the needle keyed k
            assert s[q + 1] == KEY and s[q + 4] == VAL and s[q + 8] == EOS
            assert tuple(s[q + 5 : q + 8]) == table[k]
            assert m[q + 5 : q + 9].all() and not m[q : q + 5].any()
        assert m.sum() == 3 * 4
    with pytest.raises(ValueError, match="n_queries"):
        TASKS["needle"].generate(1, seed=0, n_queries=5, **kw)


def test_needle_repeat_span_adds_induction_targets_in_the_haystack_and_keeps_the_queries():
    kw = dict(lengths=[64, 128], depths=[0.0, 0.5, 1.0], n_keys=8, n_values=8, key_len=2, value_len=3,
              shared_vocab=True, n_distractors=3, n_queries=3, value_marker=False)
    plain = TASKS["needle"].generate(6, seed=4, **kw)
    assert plain.equals(TASKS["needle"].generate(6, seed=4, repeat_span=0, **kw))  # off: as before
    df = TASKS["needle"].generate(6, seed=4, repeat_span=6, **kw)
    extra = []
    for (s, m), (_, r) in zip(rows(df), df.iterrows()):
        assert len(s) == r.seq_len
        q0 = np.flatnonzero(s == QUERY)[0]
        assert m[q0:].sum() == 3 * 4  # the three queries' values and EOS, as without repeats
        hay = np.flatnonzero(m[:q0])
        assert len(hay) <= 5 and not np.isin(s[hay], [KEY, BOS]).any()
        for t in hay:  # each is the token that followed an earlier occurrence of its predecessor
            assert any(s[i - 1] == s[t - 1] and s[i] == s[t] for i in range(1, t - 1)), t
        extra.append(len(hay))
    assert np.mean(extra) > 3  # most copies are not split by a needle
    one = TASKS["needle"].generate(10, seed=1, lengths=[96], depths=[0.0], key_len=2, value_len=3, repeat_span=8)
    for s, m in rows(one):  # one needle at depth 0: the haystack is whole, every copy gives 7 targets
        q0 = np.flatnonzero(s == QUERY)[0]
        assert m[:q0].sum() == 7


def test_copy_parity_counting_answers():
    for s, m in rows(TASKS["copy"].generate(10, seed=0, seq_len=41)):
        half = (41 - 3) // 2
        assert np.array_equal(s[1 : 1 + half], s[half + 2 : 2 * half + 2]) and s[half + 1] == SEP
        assert m.sum() == half + 1
    df = TASKS["parity"].generate(50, seed=0, seq_len=20)
    for (s, _), ans in zip(rows(df), df.answer):
        assert (s[1:-3] - FIRST).sum() % 2 == ans == s[-2] - FIRST
    assert 0 < df.answer.mean() < 1
    df = TASKS["counting"].generate(50, seed=0, seq_len=40, n_symbols=6, max_count=10)
    for (s, _), ans in zip(rows(df), df.answer):
        assert s[-4] == QUERY and (s[1:-4] == s[-3]).sum() == ans == s[-2] - FIRST - 6
    assert df.answer.nunique() > 5


def test_markov_mixture_follows_its_chain():
    P = transition_matrices(3, 10, 0.3, chain_seed=4)
    df = TASKS["markov_mixture"].generate(20, seed=0, seq_len=50, n_states=10, n_chains=3, concentration=0.3,
                                          chain_seed=4)
    for (s, m), c in zip(rows(df), df.chain):
        x = s[1:] - FIRST
        assert (P[c, x[:-1], x[1:]] > 0).all()
        assert m[2:].all() and not m[:2].any()
    assert df.oracle_nll.between(0, np.log(10)).all()
    other = TASKS["markov_mixture"].generate(20, seed=0, seq_len=50, n_states=10, n_chains=3, chain_seed=5)
    assert not all(np.array_equal(a, b) for a, b in zip(df.input_ids, other.input_ids))


def test_trigger_tokens_are_followed_by_a_back_copy():
    df = TASKS["trigger"].generate(20, seed=0, seq_len=100, n_states=20, n_triggers=3, p_trigger=0.2)
    n_copies = 0
    for s, cp in zip(df.input_ids, df.copy_mask):
        x = np.asarray(s) - FIRST
        trig = np.flatnonzero((x < 3) & (np.arange(len(x)) > 0))
        for t in trig:
            assert x[t - 1] >= 3  # never two triggers in a row
            if t + 1 < len(x):
                assert x[t + 1] == x[t - 1] and cp[t + 1]
        assert cp.sum() == sum(t + 1 < len(x) for t in trig)
        n_copies += cp.sum()
    assert n_copies > 50


def test_synth_step_writes_parts_to_parquet(tmp_path):
    params = {"seed": 3, "parts": [{"task": "mqar", "n": 4, "seq_len": 64, "n_pairs": 4},
                                   {"task": "mqar", "n": 5, "seq_len": 128, "n_pairs": 16}]}
    out = tmp_path / "d.parquet"
    synth.main(StepArgs({}, {"data": [str(out)]}, params))
    df = pd.read_parquet(out)
    assert list(df.groupby("part").size()) == [4, 5] and set(df.length) == {64, 128}
    again = synth.synthesize(params["parts"][1:], 3)
    assert not np.array_equal(again.input_ids[0], df[df.part == 1].input_ids.iloc[0])  # part seeds differ

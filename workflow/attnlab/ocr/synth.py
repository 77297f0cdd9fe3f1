"""OCR task synthesis: facts for every subject, implications for the training half only.

Vocabulary (token ids): subjects s_0..s_{S-1}, then r_fact, r_impl, then b_0..b_{n-1} (fact
answers) and c_0..c_{n-1} (implication answers). Subject s is assigned pair i(s):
(s, r_fact) -> b_i(s) and (s, r_impl) -> c_i(s).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet

COLUMNS = ["subject", "relation", "answer", "kind", "split", "pair", "subject_group", "text"]


class Vocabulary:
    def __init__(self, n_subjects: int, n_pairs: int):
        self.n_subjects, self.n_pairs = n_subjects, n_pairs
        self.r_fact, self.r_impl = n_subjects, n_subjects + 1
        self.b0, self.c0 = n_subjects + 2, n_subjects + 2 + n_pairs
        self.size = n_subjects + 2 + 2 * n_pairs

    def b(self, i):
        return self.b0 + i

    def c(self, i):
        return self.c0 + i

    @property
    def c_tokens(self) -> list[int]:
        return list(range(self.c0, self.c0 + self.n_pairs))

    def token(self, t: int) -> str:
        if t < self.n_subjects:
            return f"s{t}"
        if t == self.r_fact:
            return "r_fact"
        if t == self.r_impl:
            return "r_impl"
        if t < self.c0:
            return f"b{t - self.b0}"
        return f"c{t - self.c0}"


def n_subjects(n_pairs: int, train_per_pair: int, test_per_pair: int) -> int:
    return n_pairs * (train_per_pair + test_per_pair)


def synthesize(n_pairs: int, train_per_pair: int, test_per_pair: int, seed: int) -> pd.DataFrame:
    """All facts (train) + implications of train subjects (train) + of test subjects (test)."""
    if min(n_pairs, train_per_pair, test_per_pair) < 1:
        raise ValueError("n_pairs, train_subjects_per_pair and test_subjects_per_pair must be >= 1")
    S = n_subjects(n_pairs, train_per_pair, test_per_pair)
    vocab = Vocabulary(S, n_pairs)
    rng = np.random.default_rng(seed)
    subjects = rng.permutation(S)
    per_pair = train_per_pair + test_per_pair
    rows = []
    for i in range(n_pairs):
        group = subjects[i * per_pair : (i + 1) * per_pair]
        for j, s in enumerate(group):
            sg = "train" if j < train_per_pair else "test"
            rows.append((int(s), vocab.r_fact, vocab.b(i), "fact", "train", i, sg))
            rows.append((int(s), vocab.r_impl, vocab.c(i), "impl", sg, i, sg))
    df = pd.DataFrame(rows, columns=COLUMNS[:-1])
    df["text"] = [f"{vocab.token(s)} {vocab.token(r)} -> {vocab.token(a)}"
                  for s, r, a in zip(df.subject, df.relation, df.answer)]
    return df.sort_values(["split", "kind", "subject"], ignore_index=True)


def main(args: StepArgs) -> None:
    p = args.params
    df = synthesize(p["n_pairs"], p["train_subjects_per_pair"], p["test_subjects_per_pair"], p["seed"])
    write_parquet(args.output("data"), df)


if __name__ == "__main__":
    run_step(main, description=__doc__)

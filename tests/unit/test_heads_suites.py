"""The suite runners (needle_suite, sink_suite) on fake models whose attention and answers are
hand-made, so every number they report is known in advance."""

import numpy as np
import pytest
import torch

from attnlab.heads import needle_suite, sink_suite
from attnlab.heads.adapters import HeadModel
from attnlab.tasks import TASKS
from attnlab.tasks.vocab import VAL


class FakeCopier(HeadModel):
    """Two layers × two heads. Head (1, 0) attends from each answer position to the needle token it
    copies and the model answers right only while that head is intact; every other head looks at
    BOS."""

    n_layers, n_heads, vocab_size, max_positions = 2, 2, 64, None

    def run(self, ids, names=(), ablate=None):
        B, T = ids.shape
        logits = torch.zeros(B, T, self.vocab_size)
        P = torch.zeros(self.n_layers, B, self.n_heads, T, T)
        P[..., 0] = 1.0
        broken = 0 in (ablate or {}).get(1, [])
        for b in range(B):
            vals = (ids[b] == VAL).nonzero().flatten().tolist()
            start = vals[0] + 1
            last = vals[-1] if len(vals) > 1 else T  # the query's VAL
            for t in range(last, T):
                src = start + (t - last)
                P[1, b, 0, t] = 0.0
                P[1, b, 0, t, src] = 1.0
                logits[b, t, 0 if broken else int(ids[b, src])] = 1.0
        cache = {n: P[int(n.split(".")[1])] for n in names}
        return logits, cache


def test_needle_suite_finds_the_copying_head_and_its_ablation_breaks_retrieval():
    df = TASKS["needle"].generate(3, 0, lengths=[24, 32], depths=[0.0, 0.5, 1.0], n_keys=4, n_values=4,
                                  n_filler=8, key_len=2, value_len=3)
    out = needle_suite.analyze(FakeCopier(), df, key_len=2, value_len=3, ks=[1], n_draws=3, seed=0, batch_size=4)
    h = out["heads"].set_index(["layer", "head"])
    assert h.retrieval_score[(1, 0)] == pytest.approx(1.0)
    assert h.retrieval_score.drop((1, 0)).eq(0).all()
    assert (h.greedy_exact == 1.0).all()
    assert h.previous_token[(0, 0)] < 0.2 and h.previous_token.between(0, 1).all()  # every query on BOS
    a = out["ablation"]
    assert (a[a.condition == "none"].accuracy == 1.0).all()
    assert (a[a.condition == "top"].accuracy == 0.0).all() and set(a[a.condition == "top"].heads) == {"L1H0"}
    assert (a[a.condition == "random"].accuracy == 1.0).all()
    assert set(a.seq_len) == {24, 32} and a.groupby("condition").n.sum()["none"] == len(df)
    maps = out["maps"]
    assert (maps[maps["rank"] == 0][["layer", "head"]].drop_duplicates().values.tolist() == [[1, 0]])


class FakeSinker(HeadModel):
    """Three layers × two heads: layer 0 puts everything on BOS, layer 1 is uniform causal, layer 2
    has one BOS head and one head on the diagonal."""

    n_layers, n_heads, vocab_size, max_positions = 3, 2, 64, None

    def run(self, ids, names=(), ablate=None):
        B, T = ids.shape
        first = torch.zeros(T, T)
        first[:, 0] = 1
        uni = torch.tril(torch.ones(T, T))
        uni = uni / uni.sum(-1, keepdim=True)
        P = torch.stack([torch.stack([first, first]), torch.stack([uni, uni]), torch.stack([first, torch.eye(T)])])
        cache = {}
        for n in names:
            l = int(n.split(".")[1])
            if n.endswith("hook_pattern"):
                cache[n] = P[l].expand(B, -1, -1, -1)
            else:
                cache[n] = torch.ones(B, T, 4)
        return torch.zeros(B, T, self.vocab_size), cache


def test_sink_suite_reports_known_sink_rates():
    df = TASKS["trigger"].generate(5, 0, seq_len=40, n_states=8, n_triggers=2)
    out = sink_suite.analyze(FakeSinker(), df, T=32, eps=0.3, tau=0.1, min_queries=8, batch_size=2)
    h = out["heads"].set_index(["layer", "head"])
    assert h.alpha1[(0, 0)] == pytest.approx(1.0) and h.alpha1[(2, 1)] == pytest.approx(1 / 32)  # only query 0
    assert h.alpha1[(1, 0)] == pytest.approx(np.mean(1 / np.arange(1, 33)))  # uniform: below ε
    assert h.distance[(2, 1)] == pytest.approx(0.0) and h.entropy[(0, 0)] == pytest.approx(0.0)
    s = out["samples"]
    assert len(s) == 5 and np.allclose(s.sink_rate, 3 / 6)
    assert np.allclose(s.layer0, 1.0) and np.allclose(s.layer1, 0.0) and np.allclose(s.layer2, 0.5)
    assert out["secondary"].empty  # the only middle layer (1) is uniform: every α_j < τ
    assert set(out["maps"]["rank"]) == {0, 1, 2, 3}

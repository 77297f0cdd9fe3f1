"""retrieval_heads: the plan's params, and the claim check on hand-made measurements."""

import numpy as np
import pandas as pd
import pytest
import torch

from attnlab.claims import FAIL, INCONCLUSIVE, PASS
from attnlab.retrieval_heads import evaluate, plan
from attnlab.tasks.synth import synthesize
from tests.fixtures import SMALL, experiment_config


@pytest.fixture(scope="module")
def cfg():
    return experiment_config("retrieval_heads", *SMALL)


def test_plan_builds_data_the_model_can_read(cfg):
    train = synthesize(**plan.synth_params(cfg, 1, "train", 0))
    test = synthesize(**plan.synth_params(cfg, 1, "test", 0))
    tp = plan.train_params(cfg, 1, 0)
    assert max(max(x) for x in pd.concat([train, test]).input_ids) < tp["model"]["vocab_size"]
    assert tp["model"]["n_positions"] >= max(test.length) and tp["model"]["attention"] == "softmax"
    assert len(test) == len(cfg["test_lengths"]) * len(cfg["test_depths"]) * cfg["n_test_per"]
    assert plan.synth_params(cfg, 1, "train", 0)["seed"] != plan.synth_params(cfg, 1, "test", 0)["seed"]
    hp = plan.heads_params(cfg, 1, 0)
    assert cfg["claim_k"] in hp["ks"] and hp["value_len"] == cfg["needle"]["value_len"]
    assert hp["split_seed"] != plan.heads_params(cfg, 1, 1)["split_seed"]  # heads chosen and judged apart
    assert [m["seed_index"] for m in plan.manifest(cfg, 1)] == list(range(cfg["seeds"]))


def test_the_needle_form_reaches_the_analysis_and_the_table(cfg):
    assert plan.heads_params(cfg, 1, 0)["value_marker"] is True and "VAL v(" in plan.table_params(cfg)["task_note"]
    bare = {**cfg, "needle": {**cfg["needle"], "value_marker": False}}
    assert plan.heads_params(bare, 1, 0)["value_marker"] is False
    assert "no VAL marker" in plan.table_params(bare)["task_note"]
    from attnlab.tasks.vocab import VAL

    test = synthesize(**plan.synth_params(bare, 1, "test", 0))
    assert test.input_ids.map(lambda s: VAL not in s).all()


def metrics(base, top, rnd, frac=0.1):
    return pd.DataFrame([{"seed_index": i, "base_accuracy": b, "top3_drop": t, "random3_drop": r,
                          "frac_retrieval": frac, "frac_zero": 0.5} for i, (b, t, r) in enumerate(zip(base, top, rnd))])


@pytest.mark.parametrize("base, top, rnd, verdict", [
    ([100, 95, 90], [90, 60, 50], [0, 10, 2], PASS),         # thresholds (and the 0.9 gate) are inclusive
    ([100, 95, 90], [40, 30, 20], [0, 0, 0], FAIL),          # masking the top heads does not break NIAH
    ([100, 95, 90], [90, 90, 90], [30, 40, 50], FAIL),       # random heads break it too
    ([100, 95, 90], [90, 90, 10], [0, 0, 0], INCONCLUSIVE),  # seeds disagree
    ([100, 89, 90], [90, 80, 90], [0, 0, 0], INCONCLUSIVE),  # one model below the competence gate
])
def test_claim_verdicts_follow_the_spec_thresholds(base, top, rnd, verdict):
    rows = evaluate.check_claims(metrics(base, top, rnd), k=3, scale="mini", bar=0.9)
    assert rows[0]["verdict"] == verdict
    if base[1] == 89:
        assert rows[0]["why"].startswith("under-trained") and "0.89 < 0.9 (seed 1)" in rows[0]["why"]
    assert rows[0]["competence"]["values"] == {str(i): b / 100 for i, b in enumerate(base)}
    assert rows[0]["substitute"] is True and rows[0]["seeds"] == [0, 1, 2]
    assert all(r["verdict"] == "NOT RUN" for r in rows[1:])


def test_per_seed_metrics_from_frames():
    heads = pd.DataFrame({"seed_index": 0, "layer": [0, 0, 1, 1], "head": [0, 1, 0, 1],
                          "retrieval_score": [0.0, 0.05, 0.9, 0.0], "greedy_exact": 0.9})
    abl = pd.DataFrame([
        {"seed_index": 0, "condition": "none", "k": 0, "draw": 0, "n": 10, "accuracy": 1.0},
        {"seed_index": 0, "condition": "none", "k": 0, "draw": 0, "n": 30, "accuracy": 0.8},
        {"seed_index": 0, "condition": "top", "k": 1, "draw": 0, "n": 40, "accuracy": 0.0},
        {"seed_index": 0, "condition": "random", "k": 1, "draw": 0, "n": 40, "accuracy": 0.85},
        {"seed_index": 0, "condition": "random", "k": 1, "draw": 1, "n": 40, "accuracy": 0.75},
    ])
    m = evaluate.per_seed_metrics(heads, abl, [1]).iloc[0]
    assert m.base_accuracy == pytest.approx(85.0)  # cells weighted by their size
    assert m.top1_drop == pytest.approx(85.0) and m.random1_drop == pytest.approx(5.0)
    assert m.frac_retrieval == 0.25 and m.frac_zero == 0.5 and m.top_heads == "L1H0"


def test_shared_vocab_haystack_hides_the_needle_among_its_own_tokens():
    from attnlab.tasks import TASKS

    kw = dict(lengths=[64], depths=[0.0, 0.5, 1.0], n_keys=8, n_values=8, n_filler=16, key_len=2, value_len=3)
    own = TASKS["needle"].generate(4, 3, **kw)
    shared = TASKS["needle"].generate(4, 3, shared_vocab=True, **kw)
    for a, b in zip(own.itertuples(), shared.itertuples()):
        assert len(a.input_ids) == len(b.input_ids) and a.needle_pos == b.needle_pos
        v = slice(b.needle_pos + 4, b.needle_pos + 7)
        assert (a.input_ids[v] == b.input_ids[v]).all()  # same needles, same RNG stream
        hay = np.delete(b.input_ids[1:-9], np.arange(b.needle_pos - 1, b.needle_pos + 6))
        assert ((hay >= 8) & (hay < 24)).all()  # haystack from the key and value tokens
        own_hay = np.delete(a.input_ids[1:-9], np.arange(a.needle_pos - 1, a.needle_pos + 6))
        assert (own_hay >= 24).all()  # default: a separate filler vocabulary


# --- issue 13: a haystack of the needle's own vocabulary, distractor needles, heads chosen and judged apart ---

NEEDLE = dict(n_keys=8, n_values=8, n_filler=16, key_len=2, value_len=3, shared_vocab=True, n_distractors=3)


def distractor_suite(n=40, lengths=(64, 96, 128), depths=None, seed=5):
    from attnlab.tasks import TASKS

    depths = [i / 20 for i in range(21)] if depths is None else depths
    return TASKS["needle"].generate(n, seed, lengths=list(lengths), depths=depths, **NEEDLE)


def test_distractor_needles_have_other_keys_and_values_and_the_query_names_one_needle():
    from attnlab.retrieval_heads.shortcuts import needles
    from attnlab.tasks.vocab import KEY, QUERY, VAL

    df = distractor_suite(n=3, depths=[0.0, 0.5, 1.0])
    for r in df.itertuples():
        s = np.asarray(r.input_ids)
        assert len(s) == r.seq_len and r.target_mask.sum() == 4 and r.target_mask[-4:].all()
        keys, vals, qk, ans = needles(s, 2, 3)
        assert len(keys) == 4 and len(set(keys)) == 4 and len(set(vals)) == 4  # 3 distractors, all distinct
        assert s[r.needle_pos] == KEY and s[r.needle_pos + 3] == VAL
        assert tuple(s[r.needle_pos + 1 : r.needle_pos + 3]) == qk and tuple(s[r.needle_pos + 4 : r.needle_pos + 7]) == ans
        assert keys.index(qk) == r.needle_rank and vals[r.needle_rank] == ans
        assert sorted([*r.distractor_pos, r.needle_pos]) == list(np.flatnonzero(s[: -9] == KEY))
        assert (s == QUERY).sum() == 1 and s[-9] == QUERY
    assert (df[df.depth == 0.0].needle_rank == 0).all() and (df[df.depth == 1.0].needle_rank == 3).all()


def test_answer_tokens_are_haystack_words_not_a_type_of_their_own():
    from attnlab.retrieval_heads.shortcuts import answer_elsewhere
    from attnlab.tasks.vocab import FIRST

    df = distractor_suite(n=5)
    content = np.concatenate([np.asarray(s)[np.asarray(s) >= FIRST] for s in df.input_ids])
    assert set(content) == set(range(FIRST, FIRST + 16))  # one pool: filler, keys and values
    pos = df.needle_pos.to_numpy()
    hay = np.concatenate([np.delete(np.asarray(s)[: -9], np.arange(p, p + 7)) for s, p in zip(df.input_ids, pos)])
    vals = np.concatenate([np.asarray(s)[p + 4 : p + 7] for s, p in zip(df.input_ids, pos)])
    assert set(vals) <= set(hay)  # every value token also occurs outside the queried needle
    assert answer_elsewhere(df, 2, 3) > 0.9  # and, per needle, almost always in the same sequence


def test_position_and_type_shortcuts_score_at_chance_and_only_key_matching_solves_the_task():
    from attnlab.retrieval_heads.shortcuts import shortcut_baselines

    df = distractor_suite(n=60)  # the training distribution: 21 depths, so the needle's rank is uniform
    assert np.bincount(df.needle_rank, minlength=4) / len(df) == pytest.approx([0.25] * 4, abs=0.03)
    sb = shortcut_baselines(df, 2, 3, seed=0)
    for name in ("first needle", "last needle", "random needle"):
        assert sb[name] == pytest.approx(0.25, abs=0.03), name
    assert sb["key oracle"] == 1.0
    assert 0.5 < sb["last key token"] < 1.0  # half a key is not enough with 8 key tokens


def test_shortcut_baselines_on_a_hand_made_sequence():
    from attnlab.retrieval_heads.shortcuts import needles, shortcut_baselines
    from attnlab.tasks.vocab import BOS, EOS, KEY, QUERY, VAL

    s = [BOS, 9, KEY, 10, 11, VAL, 20, 21, 22, 9, KEY, 12, 11, VAL, 23, 24, 25, QUERY, KEY, 12, 11, VAL, 23, 24, 25, EOS]
    keys, vals, qk, ans = needles(np.array(s), 2, 3)
    assert keys == [(10, 11), (12, 11)] and vals == [(20, 21, 22), (23, 24, 25)] and qk == (12, 11) and ans == (23, 24, 25)
    sb = shortcut_baselines(pd.DataFrame({"input_ids": [np.array(s)]}), 2, 3)
    assert sb["first needle"] == 0.0 and sb["last needle"] == 1.0 and sb["key oracle"] == 1.0


def test_training_sequences_with_several_queries_offer_no_position_or_type_cue():
    from attnlab.retrieval_heads.shortcuts import shortcut_baselines
    from attnlab.tasks import TASKS

    depths = [i / 20 for i in range(21)]
    df = TASKS["needle"].generate(20, 6, lengths=[64, 96, 128], depths=depths, n_queries=3, **NEEDLE)
    sb = shortcut_baselines(df, 2, 3, seed=0)  # over all 3 queries of each sequence
    for name in ("first needle", "last needle", "random needle"):
        assert sb[name] == pytest.approx(0.25, abs=0.03), name
    # elimination (a needle not asked before) gets 1/4, 1/3, 1/2 on the 1st, 2nd, 3rd query: 13/36
    assert sb["not asked before"] == pytest.approx(13 / 36, abs=0.03) and sb["key oracle"] == 1.0
    from attnlab.retrieval_heads.shortcuts import answer_elsewhere

    one = TASKS["needle"].generate(20, 6, lengths=[64, 96, 128], depths=depths, **NEEDLE)
    # the first query may ask a distractor: its needle, not the one at `depth`, is left out of "elsewhere"
    assert answer_elsewhere(df, 2, 3) == pytest.approx(answer_elsewhere(one, 2, 3), abs=0.05)


def test_shortcut_baselines_read_every_query_of_a_hand_made_sequence():
    from attnlab.retrieval_heads.shortcuts import needles, queries, shortcut_baselines
    from attnlab.tasks.vocab import BOS, EOS, KEY, QUERY, VAL

    s = [BOS, KEY, 10, 11, VAL, 20, 21, 22, 9, KEY, 12, 13, VAL, 23, 24, 25,
         QUERY, KEY, 12, 13, VAL, 23, 24, 25, EOS, QUERY, KEY, 10, 11, VAL, 20, 21, 22, EOS]
    assert queries(np.array(s), 2, 3) == [((12, 13), (23, 24, 25)), ((10, 11), (20, 21, 22))]
    keys, vals, qk, ans = needles(np.array(s), 2, 3)
    assert keys == [(10, 11), (12, 13)] and qk == (12, 13) and ans == (23, 24, 25)  # needles before the first query
    sb = shortcut_baselines(pd.DataFrame({"input_ids": [np.array(s)]}), 2, 3)
    assert sb["first needle"] == 0.5 and sb["last needle"] == 0.5 and sb["key oracle"] == 1.0
    assert sb["not asked before"] == 1.0 or sb["not asked before"] == 0.5  # the 2nd query: one needle left


def test_without_the_value_marker_the_answer_follows_the_key_in_needle_and_query():
    from attnlab.heads.needle_suite import layout
    from attnlab.retrieval_heads.shortcuts import needles, queries, shortcut_baselines
    from attnlab.tasks import TASKS
    from attnlab.tasks.vocab import EOS, KEY, QUERY, VAL

    depths = [i / 20 for i in range(21)]
    df = TASKS["needle"].generate(3, 2, lengths=[64, 96], depths=depths, value_marker=False, **NEEDLE)
    for r in df.itertuples():
        s = np.asarray(r.input_ids)
        assert len(s) == r.seq_len and VAL not in s and s[-1] == EOS and s[-8] == QUERY and s[-7] == KEY
        assert r.target_mask.sum() == 4 and r.target_mask[-4:].all()  # the value and its EOS
        keys, vals, qk, ans = needles(s, 2, 3, value_marker=False)
        assert s[r.needle_pos] == KEY and tuple(s[r.needle_pos + 1 : r.needle_pos + 3]) == qk
        assert tuple(s[r.needle_pos + 3 : r.needle_pos + 6]) == ans == tuple(s[-4:-1])
        assert len(set(keys)) == 4 and vals[r.needle_rank] == ans
        span = layout(r.seq_len, r.needle_pos, 2, 3, value_marker=False)["span"]
        assert tuple(s[span[0] : span[1]]) == ans
    sb = shortcut_baselines(df, 2, 3, seed=0, value_marker=False)
    assert sb["key oracle"] == 1.0 and sb["random needle"] == pytest.approx(0.25, abs=0.06)
    # three queries: every queried value and EOS are targets, read two tokens after the query's KEY
    many = TASKS["needle"].generate(2, 2, lengths=[96], depths=[0.5], n_queries=3, value_marker=False, **NEEDLE)
    for ids, m in zip(many.input_ids, many.target_mask):
        qs = queries(np.asarray(ids), 2, 3, value_marker=False)
        assert len(qs) == 3 and m.sum() == 12
        assert [tuple(np.asarray(ids)[q + 4 : q + 7]) for q in np.flatnonzero(np.asarray(ids) == QUERY)] == [a for _, a in qs]


def test_no_distractors_leaves_the_needle_task_unchanged():
    from attnlab.tasks import TASKS

    kw = dict(lengths=[64], depths=[0.0, 0.5], n_keys=8, n_values=8, n_filler=16, key_len=2, value_len=3)
    a, b = TASKS["needle"].generate(3, 1, **kw), TASKS["needle"].generate(3, 1, n_distractors=0, **kw)
    assert all((x == y).all() for x, y in zip(a.input_ids, b.input_ids)) and "needle_rank" not in b


def test_split_halves_are_disjoint_cover_every_cell_and_repeat():
    from attnlab.heads.needle_suite import split_halves

    df = distractor_suite(n=5, depths=[0.0, 0.5, 1.0])
    sel, held = split_halves(df, 7)
    assert set(sel).isdisjoint(held) and sorted([*sel, *held]) == list(range(len(df)))
    for part in (sel, held):
        cells = df.iloc[part].groupby(["seq_len", "depth"]).size()
        assert len(cells) == 9 and set(cells) <= {2, 3}
    again = split_halves(df, 7)
    assert (again[0] == sel).all() and not (split_halves(df, 8)[0] == sel).all()


class KeyMatcher:
    """Fake model over distractor needles: head (1, 0) attends from each answer position to the value of
    the needle whose key matches the query, head (0, 1) to the FIRST needle's value (a position head),
    every other head to BOS. The answer is copied by (1, 0) unless it is masked; then by (0, 1)."""

    n_layers, n_heads, vocab_size, max_positions = 2, 2, 64, None

    def encode(self, ids):
        return ids

    def pattern_names(self):
        return [f"blocks.{l}.attn.hook_pattern" for l in range(self.n_layers)]

    def run(self, ids, names=(), ablate=None):
        from attnlab.retrieval_heads.shortcuts import needles
        from attnlab.tasks.vocab import KEY, QUERY

        B, T = ids.shape
        logits = torch.zeros(B, T, self.vocab_size)
        P = torch.zeros(self.n_layers, B, self.n_heads, T, T)
        P[..., 0] = 1.0
        broken = 0 in (ablate or {}).get(1, [])
        for b in range(B):
            s = ids[b].numpy()
            q = int(np.flatnonzero(s == QUERY)[-1])
            keys, _, qk, _ = needles(s, 2, 3)
            starts = list(np.flatnonzero(s[:q] == KEY))
            right, first = starts[keys.index(qk)] + 4, starts[0] + 4
            for t in range(q + 4, T):
                i = t - (q + 4)
                if i >= 3:
                    break
                for (l, h), src in (((1, 0), right), ((0, 1), first)):
                    P[l, b, h, t] = 0.0
                    P[l, b, h, t, src + i] = 1.0
                logits[b, t, int(s[(first if broken else right) + i])] = 1.0
        return logits, {n: P[int(n.split(".")[1])] for n in names}


def test_retrieval_score_credits_only_the_queried_needle_and_heads_are_judged_on_the_other_half():
    import torch  # noqa: F401  (KeyMatcher builds tensors)

    from attnlab.heads import needle_suite

    df = distractor_suite(n=4, lengths=(64,), depths=[0.0, 0.5, 1.0])
    out = needle_suite.analyze(KeyMatcher(), df, key_len=2, value_len=3, ks=[1], n_draws=2, seed=0,
                               batch_size=8, split_seed=3)
    sel, held = needle_suite.split_halves(df, 3)
    h = out["heads"].set_index(["layer", "head"]).retrieval_score
    assert h[(1, 0)] == pytest.approx(1.0)
    first = (df.iloc[sel].needle_rank == 0).mean()  # the position head is right only when the first needle is asked
    assert h[(0, 1)] == pytest.approx(first) and 0 < first < 1
    assert h.drop([(1, 0), (0, 1)]).eq(0).all()
    assert len(out["samples"]) == len(sel)
    a = out["ablation"]
    assert a.groupby(["condition", "k", "draw"]).n.sum().eq(len(held)).all()
    assert (a[a.condition == "none"].accuracy == 1.0).all()
    top = a[a.condition == "top"]
    assert set(top.heads) == {"L1H0"}
    # masked, the model falls back on the position head: right exactly when the first needle is asked
    assert (top.n * top.accuracy).sum() / top.n.sum() == pytest.approx((df.iloc[held].needle_rank == 0).mean())


def test_a_training_mixture_of_haystack_vocabularies_crosses_the_distractor_mixture_and_keeps_the_test_suite(cfg):
    from attnlab.tasks.recall import needle_vocab_size
    from attnlab.tasks.vocab import FIRST

    n = {**cfg["needle"], "shared_vocab": True, "n_distractors": 1}
    mixed = {**cfg, "needle": n, "train_distractors": [0, 1], "train_shared_vocab": [False, True]}
    assert [(p["n_distractors"], p["shared_vocab"]) for p in plan.train_parts(mixed)] == [
        (0, False), (0, True), (1, False), (1, True)]
    train = synthesize(**plan.synth_params(mixed, 1, "train", 0))
    cells = len(cfg["train_lengths"]) * len(plan.train_depths(cfg)) * cfg["n_train_per"]
    assert train.groupby("part").size().tolist() == [cells] * 4
    filler0 = FIRST + n["n_keys"] + n["n_values"]  # the separate filler vocabulary starts here
    uses_filler = [bool((np.asarray(s) >= filler0).any()) for s in train.input_ids]
    assert {u for u, p in zip(uses_filler, train.part) if p in (0, 2)} == {True}
    assert {u for u, p in zip(uses_filler, train.part) if p in (1, 3)} == {False}
    assert max(max(x) for x in train.input_ids) < needle_vocab_size(**n)
    test = synthesize(**plan.synth_params(mixed, 1, "test", 0))
    assert not any((np.asarray(s) >= filler0).any() for s in test.input_ids)  # the suite keeps needle.shared_vocab
    note = plan.table_params(mixed)["task_note"]
    assert "a separate filler vocabulary (no needle token recurs in the hay) and the needles' own vocabulary" in note
    assert "shared vocabulary alone is tested" in note


def test_a_training_mixture_of_distractor_counts_keeps_the_test_suite_and_is_checked_at_parse_time(cfg):
    from attnlab.config import ConfigError
    from attnlab.experiment import Context

    mixed = {**cfg, "needle": {**cfg["needle"], "n_distractors": 1}, "train_distractors": [0, 1]}
    train = synthesize(**plan.synth_params(mixed, 1, "train", 0))
    cells = len(cfg["train_lengths"]) * len(plan.train_depths(cfg)) * cfg["n_train_per"]
    assert train.groupby("part").size().tolist() == [cells, cells]
    # KEY occurs once per needle and once in the query: the one-needle part twice, the other part three times
    keys = [int((np.asarray(s) == 4).sum()) for s in train.input_ids]  # KEY = 4
    assert {k for k, p in zip(keys, train.part) if p == 0} == {2} and {k for k, p in zip(keys, train.part) if p == 1} == {3}
    test = synthesize(**plan.synth_params(mixed, 1, "test", 0))
    assert {int((np.asarray(s) == 4).sum()) for s in test.input_ids} == {3}  # the suite keeps needle.n_distractors
    # without the key, the parts are what they were (the same bytes for every existing config)
    assert plan.synth_params(cfg, 1, "train", 0)["parts"] == [{"task": "needle", **plan.train_parts(cfg)[0]}]
    config = {"base_seed": 1, "experiments": {"retrieval_heads": {**mixed, "train_queries": 2}}}
    with pytest.raises(ConfigError, match=r"train_queries = 2.*0 distractor.*train_distractors"):
        plan.check(Context(config, "retrieval_heads"))
    plan.check(Context({**config, "experiments": {"retrieval_heads": mixed}}, "retrieval_heads"))


def test_a_repeated_haystack_span_adds_targets_to_training_only_and_the_table_names_it(cfg):
    rep = {**cfg, "train_repeat_span": 6}
    assert {p["repeat_span"] for p in plan.train_parts(rep)} == {6}
    assert all("repeat_span" not in p for p in plan.train_parts(cfg))
    targets = [synthesize(**plan.synth_params(c, 1, "train", 0)).target_mask.map(np.sum).sum() for c in (cfg, rep)]
    assert targets[1] > targets[0]
    tests = [synthesize(**plan.synth_params(c, 1, "test", 0)) for c in (cfg, rep)]
    assert tests[0].equals(tests[1])  # the held-out suite has no repeats
    assert "repeats one span of up to 6 tokens" in plan.table_params(rep)["task_note"]
    assert "repeats" not in plan.table_params(cfg)["task_note"]


def test_the_table_names_each_random_draw_its_drop_and_its_previous_token_heads():
    from attnlab.retrieval_heads.table import random_draws_note

    rows = []
    for s, (acc0, acc1) in enumerate([(0.5, 1.0), (0.9, 0.2)]):
        rows += [{"seed_index": s, "condition": "none", "k": 0, "draw": 0, "heads": "", "n": n, "accuracy": 1.0}
                 for n in (10, 30)]
        rows += [{"seed_index": s, "condition": "random", "k": 2, "draw": 0, "heads": "L0H1 L1H0", "n": n,
                  "accuracy": a} for n, a in ((10, acc0), (30, acc0))]
        rows += [{"seed_index": s, "condition": "random", "k": 2, "draw": 1, "heads": "L1H1 L0H0", "n": 10, "accuracy": acc1},
                 {"seed_index": s, "condition": "random", "k": 1, "draw": 0, "heads": "L1H1", "n": 10, "accuracy": 0.0}]
    scores = pd.DataFrame([{"seed_index": s, "layer": l, "head": h, "retrieval_score": 0.0,
                            "previous_token": 0.9 if (s, l, h) == (0, 0, 1) else 0.1}
                           for s in (0, 1) for l in (0, 1) for h in (0, 1)])
    note = random_draws_note(pd.DataFrame(rows), scores, 2)
    assert "seed 0: L0H1† L1H0 -50.0, L1H1 L0H0 +0.0; seed 1: L0H1 L1H0 -10.0, L1H1 L0H0 -80.0." in note
    assert random_draws_note(pd.DataFrame(rows), scores, 3) == ""  # no draw of that size


def test_the_training_stack_is_scheduled_first_and_the_other_steps_keep_their_default():
    """The longest stack of the run (scheduling only: the same models whatever the order)."""
    from attnlab import registry
    from tests.fixtures import load_config

    config = load_config()
    steps = {s.name: s for g, s in registry.steps(config) if g == "retrieval_heads"}
    others = [s.priority for g, s in registry.steps(config) if s.priority is not None and g != "retrieval_heads"]
    assert steps["train"].priority > max(others) and steps["heads"].priority is None

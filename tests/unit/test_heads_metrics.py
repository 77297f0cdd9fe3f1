"""Every head metric on hand-made attention maps whose answers are known (numpy only: fast)."""

import math

import numpy as np
import pytest

from attnlab.heads import ablation, patterns, retrieval, sinks


def causal_uniform(T):
    A = np.tril(np.ones((T, T)))
    return A / A.sum(-1, keepdims=True)


def first_token(T):
    A = np.zeros((T, T))
    A[:, 0] = 1.0
    return A


# --- retrieval score -------------------------------------------------------------------------------
def test_step_hits_needs_top1_inside_the_span_and_the_same_token():
    ctx = np.array([1, 9, 10, 11, 12, 13])
    rows = np.zeros((1, 3, 6))
    rows[0, 0, 3] = 1.0  # copies token 11 from inside the span [2, 5)
    rows[0, 1, 0] = 1.0  # looks at BOS
    rows[0, 2, 4] = 0.9  # inside the span, but token 12 is not the generated 11
    rows[0, 2, 3] = 0.1
    hit = retrieval.step_hits(rows, ctx, (2, 5), generated=11)
    assert hit.tolist() == [[True, False, False]]
    # the same token outside the span earns nothing
    assert not retrieval.step_hits(rows, np.array([1, 9, 10, 11, 12, 11]), (4, 6), 11)[0, 0]


def test_a_head_that_copies_every_needle_token_scores_one_and_half_of_them_half():
    # context: BOS f f v1 v2 f f; the answer v1 v2 is generated in two steps
    ctx0 = np.array([1, 50, 51, 20, 21, 52, 53])
    span = (3, 5)
    copier = [np.eye(7)[3], np.eye(8)[4]]  # step 0 attends v1, step 1 attends v2
    half = [np.eye(7)[3], np.eye(8)[0]]
    rows = [np.stack([copier[s], half[s]])[None] for s in range(2)]  # (layer 1, head 2, key)
    ctxs = [ctx0, np.append(ctx0, 20)]
    s = retrieval.sample_score(rows, ctxs, span, generated=[20, 21])
    assert s.tolist() == [[1.0, 0.5]]
    # a wrong generation earns nothing even when attention is on the needle
    assert retrieval.sample_score(rows, ctxs, span, generated=[30, 31]).tolist() == [[0.0, 0.0]]


def test_scores_average_over_samples_and_retrieval_heads_use_the_01_cut():
    per_sample = np.array([[[1.0, 0.0, 0.2]], [[1.0, 0.0, 0.0]]])  # (sample, layer, head)
    S = retrieval.retrieval_scores(per_sample)
    assert S.tolist() == [[1.0, 0.0, 0.1]]
    assert retrieval.retrieval_heads(S) == [(0, 0)]  # 0.1 is not > 0.1
    summ = retrieval.summary(S)
    assert summ["frac_retrieval"] == pytest.approx(1 / 3) and summ["frac_zero"] == pytest.approx(1 / 3)


# --- ablation choices ------------------------------------------------------------------------------
def test_top_heads_and_random_draws_avoid_retrieval_heads():
    S = np.array([[0.9, 0.0, 0.05], [0.3, 0.0, 0.6]])
    assert ablation.top_heads(S, 2) == [(0, 0), (1, 2)]
    draws = ablation.random_non_retrieval_heads(S, 2, n_draws=5, seed=0)
    assert len(draws) == 5
    for d in draws:
        assert len(set(d)) == 2 and all(S[h] <= 0.1 for h in d)
    assert draws == ablation.random_non_retrieval_heads(S, 2, n_draws=5, seed=0)  # seeded
    with pytest.raises(ValueError):
        ablation.random_non_retrieval_heads(S, 4, n_draws=1, seed=0)
    assert ablation.by_layer([(1, 2), (0, 1), (1, 0)]) == {0: [1], 1: [0, 2]}


# --- sinks -----------------------------------------------------------------------------------------
def test_importance_of_first_token_and_of_every_token():
    T = 8
    assert sinks.importance(first_token(T)) == pytest.approx(1.0)
    U = causal_uniform(T)
    # α_0 = mean_i 1/(i+1)
    assert sinks.importance(U) == pytest.approx(np.mean(1 / np.arange(1, T + 1)))
    alpha = sinks.importance_all(U)
    for j in range(T):
        assert alpha[j] == pytest.approx(np.mean([1 / (i + 1) for i in range(j, T)]))
    assert sinks.importance_all(first_token(T)).tolist() == [1.0] + [0.0] * (T - 1)


def test_sink_rate_counts_heads_above_epsilon():
    T = 64
    maps = np.stack([np.stack([first_token(T), causal_uniform(T)]),  # layer 0: one sink head of two
                     np.stack([first_token(T), first_token(T)])])  # layer 1: two
    alpha = sinks.importance(maps)  # (layer, head)
    assert sinks.sink_rate(alpha, 0.3) == pytest.approx(0.75)
    assert sinks.sink_rate_per_layer(alpha, 0.3).tolist() == [0.5, 1.0]
    # sigmoid-style unnormalised weights: small everywhere -> no sinks
    assert sinks.sink_rate(sinks.importance(0.01 * np.tril(np.ones((2, 2, T, T)))), 0.3) == 0.0


def test_secondary_sink_found_with_its_creator_mlp_and_alignment():
    L, H, T, D = 4, 2, 32, 4
    pattern = np.broadcast_to(first_token(T), (L, H, T, T)).copy()
    # layers 1 and 2, head 1: every query from position 5 on puts 0.5 on token 5 (a secondary sink)
    for l in (1, 2):
        pattern[l, 1, 5:, 0] = 0.5
        pattern[l, 1, 5:, 5] = 0.5
    alpha = sinks.importance_all(pattern)
    primary = np.array([1.0, 0.0, 0.0, 0.0])
    resid = np.zeros((L, T, D))
    resid[:, :, 1] = 1.0  # ordinary tokens point elsewhere
    resid[:, 0] = primary
    resid[1:, 5] = [2.0, 0.1, 0.0, 0.0]  # token 5 joins the sink direction from layer 1 on
    mlp = np.zeros((L, T, D))
    mlp[:, :, 2] = 0.5  # ordinary MLP outputs: orthogonal to the sink direction
    mlp[0, 5] = [3.0, 0.0, 0.0, 0.0]  # layer 0's MLP writes the sink direction into token 5
    found = sinks.secondary_sinks(alpha, resid, mlp, tau=0.1, min_queries=4)
    assert [f["position"] for f in found] == [5]
    f = found[0]
    assert f["first_layer"] == 1 and f["layers"] == 2  # middle layers 1, 2
    assert f["score"] == pytest.approx(0.5)
    assert f["creator_layer"] == 0 and f["mlp_norm"] == pytest.approx(3.0) and f["mlp_cos"] == pytest.approx(1.0)
    assert f["cos_primary"] == pytest.approx(2.0 / math.hypot(2.0, 0.1))
    assert f["control_cos"] == pytest.approx(0.0)
    # the last positions (fewer than min_queries queries) are never flagged
    late = pattern.copy()
    late[2, 0, -2:, -2] = 1.0
    assert [x["position"] for x in sinks.secondary_sinks(sinks.importance_all(late), resid, mlp, min_queries=4)] == [5]


def test_secondary_sink_control_is_selected_like_the_sink():
    """The creating MLP is the best-aligned of the layers before the sink; the control takes, for
    every non-sink token, its own best-aligned layer too (a max against a max, not against a mean)."""
    L, H, T, D = 4, 2, 32, 4
    pattern = np.broadcast_to(first_token(T), (L, H, T, T)).copy()
    pattern[2, 1, 5:, 0] = 0.5  # token 5 is a sink in layer 2 only: MLPs 0 and 1 come before it
    pattern[2, 1, 5:, 5] = 0.5
    resid = np.zeros((L, T, D))
    resid[:, :, 1] = 1.0
    resid[:, 0] = [1.0, 0.0, 0.0, 0.0]  # the primary-sink direction
    mlp = np.zeros((L, T, D))
    mlp[:, :, 2] = 1.0  # orthogonal by default
    mlp[0, 0::2] = [0.6, 0.8, 0.0, 0.0]  # even tokens: layer 0 aligned at cos 0.6
    mlp[1, 1::2] = [0.8, 0.6, 0.0, 0.0]  # odd tokens: layer 1 aligned at cos 0.8
    mlp[0, 5] = [2.0, 0.0, 0.0, 0.0]  # the sink's creator: layer 0, cos 1
    (f,) = sinks.secondary_sinks(sinks.importance_all(pattern), resid, mlp, tau=0.1, min_queries=4)
    assert f["position"] == 5 and f["first_layer"] == 2 and f["creator_layer"] == 0 and f["mlp_cos"] == pytest.approx(1.0)
    # controls: positions 1..28 but 5; 14 even (best 0.6) and 13 odd (best 0.8). Reading only the
    # creator's layer 0 would give (14 · 0.6 + 13 · 0) / 27.
    assert f["control_cos"] == pytest.approx((14 * 0.6 + 13 * 0.8) / 27)


def test_rank_correlation():
    assert sinks.rank_correlation([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert sinks.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(sinks.rank_correlation([1, 2], [1, 2]))


# --- entropy and distance --------------------------------------------------------------------------
def test_entropy_and_distance_of_known_patterns():
    T = 6
    U = causal_uniform(T)
    assert patterns.attention_entropy(U) == pytest.approx(np.mean(np.log(np.arange(1, T + 1))))
    assert patterns.mean_attention_distance(U) == pytest.approx(np.mean(np.arange(T) / 2))
    assert patterns.attention_entropy(np.eye(T)) == pytest.approx(0.0)
    assert patterns.mean_attention_distance(np.eye(T)) == pytest.approx(0.0)
    assert patterns.mean_attention_distance(first_token(T)) == pytest.approx(np.mean(np.arange(T)))
    # unnormalised rows are rescaled first; batched input keeps its leading dims
    assert patterns.attention_entropy(np.stack([0.2 * U, np.eye(T)])) == pytest.approx(
        [np.mean(np.log(np.arange(1, T + 1))), 0.0])


def test_previous_token_attention_of_known_patterns():
    T = 6
    prev = np.eye(T, k=-1)
    prev[0, 0] = 1.0  # the first query has no previous token: it is not counted
    assert patterns.previous_token_attention(prev) == pytest.approx(1.0)
    assert patterns.previous_token_attention(np.eye(T)) == pytest.approx(0.0)
    assert patterns.previous_token_attention(first_token(T)) == pytest.approx(1 / (T - 1))  # only query 1
    # causal uniform: query i puts 1 / (i + 1) on i - 1; unnormalised rows are rescaled, leading dims kept
    want = np.mean(1 / np.arange(2, T + 1))
    assert patterns.previous_token_attention(np.stack([3.0 * causal_uniform(T), prev])) == pytest.approx([want, 1.0])

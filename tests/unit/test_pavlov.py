"""pavlov: the Hebbian memory and its capacity on inputs with known answers, the search, the
slope fit, and the claim check on hand-made slopes."""

import numpy as np
import pandas as pd
import pytest

from attnlab.pavlov import evaluate, plan
from attnlab.pavlov.capacity import (
    CRITERIA,
    capacity,
    curve_crossing,
    fraction_reaches,
    interpolated_crossing,
    largest_integer,
    largest_passing,
    loglog_slope,
    random_draw,
)
from attnlab.pavlov.memory import hebbian_memory, interference_bound, random_unit, retrieval_correct, retrieve


def orthogonal_draw(seed, d_k, d_v, n, trial):
    """Orthonormal keys (n ≤ d_k): zero crosstalk, so every pair must come back."""
    rng = np.random.default_rng([seed, d_k, n, trial])
    q, _ = np.linalg.qr(rng.standard_normal((d_k, d_k)))
    return q[:n], random_unit(rng, n, d_v)


def test_memory_is_the_sum_of_outer_products():
    rng = np.random.default_rng(0)
    k, v = random_unit(rng, 5, 8), random_unit(rng, 5, 3)
    np.testing.assert_allclose(hebbian_memory(k, v), sum(np.outer(v[i], k[i]) for i in range(5)))
    assert np.allclose(np.linalg.norm(k, axis=1), 1.0)


def test_orthogonal_keys_retrieve_exactly():
    k, v = orthogonal_draw(0, 16, 4, 16, 0)
    np.testing.assert_allclose(k @ hebbian_memory(k, v).T, v, atol=1e-12)  # M k_j = v_j
    assert retrieval_correct(k, v).all() and interference_bound(k) == pytest.approx(0, abs=1e-12)


def test_capacity_on_orthogonal_keys_is_exact():
    for c in CRITERIA:
        assert capacity(c, 0, 16, 8, trials=10, min_pairs=50, n_max=16, draw=orthogonal_draw) == 16


def test_interference_bound_by_hand():
    k = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    # row sums of |k_i·k_j| off the diagonal: 0.6 + 0, 0.6 + 0.8, 0 + 0.8
    assert interference_bound(k) == pytest.approx(1.4)
    assert interference_bound(k[:1]) == 0.0


def test_retrieve_picks_the_nearest_value():
    values = np.array([[1.0, 0.0], [0.0, 1.0]])
    memory = np.eye(2)  # returns the key itself
    keys = np.array([[0.9, 0.1], [0.2, 0.7]])
    assert retrieve(memory, keys, values).tolist() == [0, 1]


@pytest.mark.parametrize("threshold", [0, 1, 2, 3, 7, 8, 33, 100])
def test_largest_passing_is_exact_for_monotone_predicates(threshold):
    visited = []
    got = largest_passing(lambda n: visited.append(n) or n <= threshold, n_max=100)
    assert got == min(threshold, 100)
    assert len(visited) <= 2 * 7 + 2  # exponential search then bisection


def test_fraction_reaches_decides_early_and_exactly():
    for hits in range(11):
        events = [True] * hits + [False] * (10 - hits)
        assert fraction_reaches(iter(events), 10, 0.9) == (hits >= 9)
    consumed = []
    assert not fraction_reaches((consumed.append(1) or False for _ in range(100)), 100, 0.9)
    assert len(consumed) == 11  # 11 misses out of 100 decide it


def test_interpolated_crossing_on_hand_made_curves():
    # a straight line from 1.0 at N=2 to 0.8 at N=3 crosses 0.95 a quarter of the way
    assert interpolated_crossing(2, 1.0, 3, 0.8, 0.95) == pytest.approx(2.25)
    assert interpolated_crossing(10, 0.9, 20, 0.5, 0.9) == pytest.approx(10.0)  # on the bar: the lower end
    with pytest.raises(ValueError):
        interpolated_crossing(2, 0.8, 3, 0.7, 0.9)  # both below: no crossing between them
    # a curve: first drop below 0.95 between N=3 (0.96) and N=4 (0.92) -> 3.25; later wiggles ignored
    assert curve_crossing([1, 2, 3, 4, 5, 6], [1.0, 0.99, 0.96, 0.92, 0.97, 0.5], 0.95) == pytest.approx(3.25)
    assert curve_crossing([1, 2], [0.5, 0.4], 0.9) == 0.0  # below the bar from the start
    assert curve_crossing([1, 2, 8], [1.0, 1.0, 0.99], 0.9) == 8.0  # never below: censored at the last N
    # a straight-line curve gives the analytic crossing, not the largest passing integer
    ns = np.arange(1, 11)
    assert curve_crossing(ns, 1.0 - 0.04 * ns, 0.9) == pytest.approx(2.5)


def duplicating_draw(seed, d_k, d_v, n, trial):
    """Orthonormal keys, except that for N ≥ 4 three trials in ten store one key three times
    (interference bound ≈ 2, retrieval of those pairs ambiguous): the fraction of trials with
    bound < 1 is exactly 1.0 up to N = 3 and 0.7 from N = 4 on. (One copy gave a bound of exactly
    1 ± one ulp, on the wrong side of `< 1` on some CPUs.)"""
    k, v = orthogonal_draw(seed, d_k, d_v, n, trial)
    if n >= 4 and trial % 10 < 3:
        k = k.copy()
        k[1] = k[2] = k[0]
    return k, v


def test_capacity_is_the_interpolated_crossing_not_the_largest_integer():
    # worst case: the statistic falls from 1.0 (N=3) to 0.7 (N=4); bar 0.9 -> 3 + 0.1/0.3
    kw = dict(seed=0, d_k=16, d_v=8, trials=20, min_pairs=50, n_max=16, draw=duplicating_draw)
    assert largest_integer("worst_case", **kw) == 3
    assert capacity("worst_case", **kw) == pytest.approx(3 + 0.1 / 0.3)
    # all pairs: the same trials fail -> the same crossing
    assert capacity("all_pairs", **kw) == pytest.approx(3 + 0.1 / 0.3)


def test_capacity_is_reproducible_and_grows_with_dk():
    a = capacity("typical", 3, 16, 16, trials=20, min_pairs=200, n_max=128)
    assert a == capacity("typical", 3, 16, 16, trials=20, min_pairs=200, n_max=128)
    assert capacity("typical", 3, 32, 16, trials=20, min_pairs=200, n_max=256) > a
    k, v = random_draw(1, 8, 4, 5, 0)
    assert k.shape == (5, 8) and v.shape == (5, 4) and k.dtype == np.float32


def test_loglog_slope_of_power_laws():
    d = np.array([16, 32, 64, 128])
    assert loglog_slope(d, 3 * d) == pytest.approx(1.0)
    assert loglog_slope(d, np.sqrt(d)) == pytest.approx(0.5)
    assert np.isnan(loglog_slope(d, [1, 2, 0, 4]))


def slopes(typical, worst, all_pairs=(1.0, 1.0, 1.0)):
    rows = []
    for c, vals in [("typical", typical), ("worst_case", worst), ("all_pairs", all_pairs)]:
        rows += [{"seed_index": s, "criterion": c, "slope": v} for s, v in enumerate(vals)]
    return pd.DataFrame(rows)


def test_claims_from_slopes():
    v = lambda *a: [r["verdict"] for r in evaluate.check_claims(slopes(*a), scale="mini", d_ks=[16, 32])]  # noqa: E731
    assert v((1.0, 1.02, 0.98), (0.5, 0.55, 0.45)) == ["PASS", "PASS"]
    assert v((1.0, 1.02, 0.98), (1.0, 1.0, 1.0))[0] == "FAIL"
    assert v((1.0, 1.3, 0.98), (0.5, 0.5, 0.5))[0] == "INCONCLUSIVE"


def test_slopes_from_capacities_and_plan(unit_config):
    # interpolated capacity ∝ d_k (slope 1); the largest integer below √d_k + 0.5 rounds 4.5 and 8.5 down
    cap = pd.DataFrame([{"seed_index": 0, "criterion": c, "d_k": d, "capacity": 2 * d,
                         "largest_integer": int(d**0.5 + 0.5)} for c in CRITERIA for d in (16, 64)])
    sl = evaluate.slopes(cap)
    assert sl["slope"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert sl["slope_integer"].tolist() == pytest.approx([np.log(8 / 4) / np.log(4)] * 3)  # 0.5
    cfg = unit_config["experiments"]["pavlov"]
    seeds = {plan.measure_params(cfg, 1234, s)["seed"] for s in range(cfg["seeds"])}
    assert len(seeds) == cfg["seeds"] and len(plan.capacity_paths(cfg)) == cfg["seeds"]

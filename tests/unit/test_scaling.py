"""The scaling harness on synthetic timings with known exponents, and the analytic exponents."""

import math

import numpy as np
import pytest
import torch

from attnlab.metrics.scaling import (
    analytic_slope,
    crossover,
    in_quadratic_regime,
    power_law,
    saved_activation_bytes,
    sweep,
    t_quantile,
)

L = [1024, 2048, 4096, 8192]


def test_power_law_recovers_known_exponents_and_its_interval_covers_them():
    rng = np.random.default_rng(0)
    for p in (1.0, 1.5, 2.0):
        exact = power_law(L, [3e-9 * x**p for x in L])
        assert exact.slope == pytest.approx(p) and exact.low == pytest.approx(p) and exact.high == pytest.approx(p)
        assert exact.at(4096) == pytest.approx(3e-9 * 4096**p)
        covered = 0
        for _ in range(200):  # 5% multiplicative noise: the 95% interval covers p about 95% of the time
            fit = power_law(L, [3e-9 * x**p * math.exp(rng.normal(0, 0.05)) for x in L])
            covered += fit.low <= p <= fit.high
        assert 0.88 <= covered / 200 <= 0.99
    two = power_law([1, 2], [1, 4])
    assert two.slope == pytest.approx(2) and math.isnan(two.low)
    with pytest.raises(ValueError, match="positive"):
        power_law(L, [1, 2, 0, 4])
    assert t_quantile(2) == 4.303 and t_quantile(100) == 1.96


def test_crossover_of_a_quadratic_and_a_linear_cost():
    dense = power_law(L, [1e-9 * x**2 for x in L])
    linear = power_law(L, [1e-6 * x for x in L])  # equal where 1e-9 L² = 1e-6 L: L = 1000
    assert crossover(dense, linear) == pytest.approx(1000)
    assert crossover(dense, dense) is None
    nearly = power_law(L, [1e-3 * x ** (2 - 1e-6) for x in L])  # parallel fits far apart: no float holds it
    assert crossover(dense, nearly) == math.inf
    assert in_quadratic_regime(dense) and not in_quadratic_regime(linear)


def test_sweep_times_each_length_with_the_given_clock():
    calls = []
    rows = sweep(lambda n: (lambda: calls.append(n)), L, repeats=3, clock=lambda fn, repeats, warmup: (fn(), 1.0)[1])
    assert rows == [{"L": n, "seconds": 1.0} for n in L] and calls == L


def test_saved_activation_bytes_counts_what_backward_keeps():
    x = torch.randn(100, 10, requires_grad=True)
    w = torch.randn(10, 10, requires_grad=True)
    assert saved_activation_bytes(lambda: (x @ w).sum()) == 100 * 10 * 4 + 10 * 10 * 4  # both operands
    assert saved_activation_bytes(lambda: (x * 2).sum()) == 0  # scaling by a constant saves nothing
    y = torch.randn(8, 8, requires_grad=True)
    assert saved_activation_bytes(lambda: (y[:4] * y[4:]).sum()) == 8 * 8 * 4  # two views of one storage


@pytest.mark.parametrize("mechanism,expected", [("softmax", 2.0), ("sliding_window", 1.0), ("superlinear", 1.5)])
def test_analytic_exponents(mechanism, expected):
    assert analytic_slope(mechanism, L, window=48) == pytest.approx(expected, abs=0.02)


def test_saved_activation_bytes_can_leave_out_the_weights():
    x = torch.randn(100, 10, requires_grad=True)
    w = torch.randn(10, 10, requires_grad=True)
    assert saved_activation_bytes(lambda: (x @ w).sum(), exclude=[w]) == 100 * 10 * 4

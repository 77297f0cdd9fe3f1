import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.metrics.classification import accuracy, cross_entropy
from attnlab.metrics.spectra import effective_rank, frobenius_norm, nuclear_norm, singular_values


def test_accuracy_full_and_restricted():
    logits = np.array([[0.0, 5.0, 1.0, 2.0],   # argmax 1; among {2,3}: 3
                       [0.0, 0.0, 3.0, 1.0]])  # argmax 2; among {2,3}: 2
    targets = np.array([3, 2])
    assert accuracy(logits, targets) == 0.5
    assert accuracy(logits, targets, candidates=[2, 3]) == 1.0


def test_cross_entropy_known_values():
    n = 20
    uniform = np.zeros((3, n))
    assert math.isclose(cross_entropy(uniform, [0, 5, 19]), math.log(n))
    confident = np.full((1, n), -1e4)
    confident[0, 7] = 0.0
    assert cross_entropy(confident, [7]) == pytest.approx(0.0, abs=1e-9)
    # two equal logits: -log(1/2)
    two = np.array([[3.0, 3.0, -1e9]])
    assert cross_entropy(two, [1]) == pytest.approx(math.log(2))


def test_spectra_of_known_matrices():
    d = np.diag([3.0, 4.0, 0.0])
    assert np.allclose(singular_values(d), [4, 3, 0])
    assert nuclear_norm(d) == pytest.approx(7.0)
    assert frobenius_norm(d) == pytest.approx(5.0)
    assert effective_rank(np.eye(5) * 2.5) == pytest.approx(5.0)
    assert effective_rank(np.outer([1, 2, 3], [4, 5, 6])) == pytest.approx(1.0)
    assert effective_rank(np.zeros((3, 3))) == 0.0


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 10_000))
def test_effective_rank_bounded_by_rank(r, extra, seed):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(r + extra, r)) @ rng.normal(size=(r, r + extra))
    erank = effective_rank(m)
    assert 1.0 - 1e-9 <= erank <= np.linalg.matrix_rank(m) + 1e-9
    assert nuclear_norm(m) >= frobenius_norm(m) - 1e-9

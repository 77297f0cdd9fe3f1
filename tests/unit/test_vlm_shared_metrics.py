"""The two shared additions of vlm_design §2.2 / §6: metrics.bootstrap.interval_verdict_min and
heads.patterns.mean_spatial_distance, on hand-made inputs with known answers."""

import numpy as np
import pytest

from attnlab.heads.patterns import mean_spatial_distance
from attnlab.metrics.bootstrap import interval_verdict_min

NAN = float("nan")


def test_interval_verdict_min():
    assert interval_verdict_min(0.01, 0.05, 0.09, 0.02) is True  # CI above 0 and mean >= delta
    assert interval_verdict_min(0.01, 0.02, 0.09, 0.02) is True  # mean exactly delta
    assert interval_verdict_min(0.001, 0.01, 0.019, 0.02) is False  # shown smaller than claimed
    assert interval_verdict_min(-0.5, -0.3, -0.1, 0.02) is False  # wrong sign
    assert interval_verdict_min(-0.01, 0.05, 0.09, 0.02) is None  # CI contains 0
    assert interval_verdict_min(0.01, 0.015, 0.09, 0.02) is None  # above 0, mean below delta, CI reaches it
    assert interval_verdict_min(NAN, 0.05, 0.09, 0.02) is None and interval_verdict_min(0.01, 0.05, 0.09, NAN) is None
    # a negative delta ("drop at most |delta|") reads the same way
    assert interval_verdict_min(0.5, 1.0, 1.5, -1.0) is True and interval_verdict_min(-3, -2.5, -2, -1) is False


def _grid(side):
    return np.array([(r, c) for r in range(side) for c in range(side)], float)


def test_mean_spatial_distance_known_patterns():
    rc = _grid(3)  # 9 patches
    T = 9
    assert mean_spatial_distance(np.eye(T), rc) == pytest.approx(0.0)
    # every query attends to patch (0, 0): mean distance of the grid to the corner
    to_corner = np.zeros((T, T))
    to_corner[:, 0] = 1
    assert mean_spatial_distance(to_corner, rc) == pytest.approx(np.mean(np.hypot(rc[:, 0], rc[:, 1])))
    # right neighbour (or self at the right edge) half, self half: 0.5 for 6 queries, 0 for 3
    nb = np.zeros((T, T))
    for i, (r, c) in enumerate(rc.astype(int)):
        nb[i, i] += 0.5
        nb[i, r * 3 + min(c + 1, 2)] += 0.5
    assert mean_spatial_distance(nb, rc) == pytest.approx(6 * 0.5 / 9)
    # diagonal neighbour: sqrt(2), not the 1-D index distance
    diag = np.zeros((4, 4))
    diag[0, 3] = diag[3, 0] = diag[1, 0] = diag[2, 3] = 1  # two diagonal, two side neighbours
    assert mean_spatial_distance(diag, _grid(2)) == pytest.approx(np.sqrt(2) * 2 / 4 + 1 * 2 / 4)
    # batched input keeps its leading dims; unnormalised rows are rescaled first
    got = mean_spatial_distance(np.stack([3 * np.eye(T), to_corner]), rc)
    assert got.shape == (2,) and got[0] == pytest.approx(0.0)


def test_mean_spatial_distance_skips_non_grid_tokens():
    """A CLS token (no grid position) neither counts as a query nor keeps mass as a key: rows are
    renormalised over the grid keys."""
    rc = np.vstack([[NAN, NAN], _grid(2)])  # CLS + 2 x 2 patches
    A = np.zeros((5, 5))
    A[:, 0] = 0.5  # half of every row on CLS
    A[1:, 1] = 0.5  # the other half on patch (0, 0)
    want = np.mean(np.hypot(_grid(2)[:, 0], _grid(2)[:, 1]))
    assert mean_spatial_distance(A, rc) == pytest.approx(want)
    rc_neg = np.vstack([[-1, -1], _grid(2)])
    assert mean_spatial_distance(A, rc_neg) == pytest.approx(want)
    only_cls = np.zeros((5, 5))
    only_cls[:, 0] = 1  # no mass on grid keys: every row skipped
    assert mean_spatial_distance(only_cls, rc) == 0.0
    with pytest.raises(ValueError, match="grid_rc"):
        mean_spatial_distance(np.eye(4), _grid(3))

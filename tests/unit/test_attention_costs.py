"""attention_costs' fits and checks on synthetic sweeps with known exponents."""

import pandas as pd
import pytest

from attnlab.attention_costs.evaluate import check_claims, fits
from attnlab.attention_costs.theory import MECHANISMS
from attnlab.claims import FAIL, INCONCLUSIVE, PASS

L = [512, 1024, 2048, 4096]


def _sweeps(dense_exponent=2.0, shift=0.0, seeds=(0, 1)):
    rows = []
    for s in seeds:
        for m, (_, _, (_, ours), mem, _) in MECHANISMS.items():
            p = dense_exponent if m == "dense_sdpa" else ours + shift
            rows += [{"seed_index": s, "mechanism": m, "L": n, "seconds": 1e-9 * n**p, "saved_bytes": 4 * n**mem}
                     for n in L]
    return pd.DataFrame(rows)


def _verdicts(sweeps):
    rows = check_claims(fits(sweeps), scale="test", tol=0.1, floor=1.75, lengths=L)
    return [r["verdict"] for r in rows], rows


def test_curves_on_theory_pass_and_the_crossover_is_where_the_fits_meet():
    verdicts, _ = _verdicts(_sweeps())
    assert verdicts == [PASS] * len(verdicts) and len(verdicts) == len(MECHANISMS) + 1
    f = fits(_sweeps())
    assert f.loc[f.mechanism == "softmax", "crossover_L"].isna().all()  # same exponent: no crossover
    assert f.loc[f.mechanism == "dense_sdpa", "time_slope"].tolist() == pytest.approx([2.0, 2.0])


def test_exponents_off_theory_fail_and_a_sweep_out_of_its_quadratic_regime_is_unmeasured():
    verdicts, _ = _verdicts(_sweeps(shift=0.3))
    assert verdicts[0] == PASS and set(verdicts[1:-1]) == {FAIL}
    verdicts, rows = _verdicts(_sweeps(dense_exponent=1.2))
    assert verdicts[0] == FAIL and set(verdicts[1:-1]) == {INCONCLUSIVE}
    assert rows[1]["why"].startswith("sweep not in its quadratic regime: dense SDPA time exponent = 1.2 < 1.75")
    assert verdicts[-1] == PASS  # the memory check counts bytes, not time: no regime needed

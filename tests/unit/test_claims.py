import math

import pandas as pd
import pytest

from attnlab import AttnlabError
from attnlab.claims import FAIL, INCONCLUSIVE, PASS, verdict_over_seeds
from attnlab.ocr.evaluate import check_claims


@pytest.mark.parametrize("per_seed,expected", [
    ([True, True, True], PASS),
    ([False, False, False], FAIL),
    ([True, False, True], INCONCLUSIVE),
    ([True, None, True], INCONCLUSIVE),
    ([], INCONCLUSIVE),
])
def test_verdict_over_seeds(per_seed, expected):
    assert verdict_over_seeds(per_seed) == expected


def _metrics(fact_c, fact_full, fact_ce, comb_c, small_c=None, n=20):
    rows = []
    for s, (a, b, c, d) in enumerate(zip(fact_c, fact_full, fact_ce, comb_c)):
        base = {"task": "n20m5", "seed_index": s, "n_pairs": n}
        rows.append({**base, "run": "factorized-d16-adam", "test_acc_c": a, "test_acc_full": b, "test_ce": c})
        rows.append({**base, "run": "combined-adam", "test_acc_c": d, "test_acc_full": d, "test_ce": 3.1})
        if small_c is not None:
            rows.append({**base, "run": "factorized-d4-adam", "test_acc_c": small_c[s],
                         "test_acc_full": 0.0, "test_ce": 3.0})
    return pd.DataFrame(rows)


def _verdicts(df, small=4):
    rows = check_claims(df, task="n20m5", head_dim=16, small_head_dim=small, optimizer="adam", scale="mini")
    return [r["verdict"] for r in rows]


def test_ocr_claims_pass_fail_inconclusive():
    ok = _metrics([1, 1, 1], [1, 1, 1], [0.01, 0.02, 0.01], [0.05, 0.05, 0.03], small_c=[1, 0.95, 0.9])
    assert _verdicts(ok) == [PASS, PASS, PASS, "NOT RUN"]
    # the reference run's seed 2: ranks the c-tokens right, outputs the fact's answer
    mixed = _metrics([1, 1, 1], [1, 0, 1], [0.015, 2.9, 0.008], [0.05, 0.05, 0.03], small_c=[0.74, 0.7, 0.8])
    assert _verdicts(mixed) == [PASS, INCONCLUSIVE, FAIL, "NOT RUN"]
    # combined above 2× chance on every seed: the contrast the paper claims is absent
    leak = _metrics([1, 1, 1], [1, 1, 1], [0.01] * 3, [0.5, 0.6, 0.5])
    assert _verdicts(leak, small=None)[:2] == [FAIL, PASS]
    # the CE bound is log(n)/2
    ce = _metrics([1] * 3, [1] * 3, [math.log(20) / 2 + 0.01] * 3, [0.05] * 3)
    assert _verdicts(ce, small=None)[1] == FAIL


def test_ocr_claims_need_both_variants():
    df = _metrics([1], [1], [0.1], [0.05])
    with pytest.raises(AttnlabError, match="combined-adam"):
        check_claims(df[df.run != "combined-adam"], task="n20m5", head_dim=16, small_head_dim=None,
                     optimizer="adam", scale="mini")


def test_conjunction_of_checks_on_one_seed():
    from attnlab.claims import conjunction

    assert conjunction([True, True]) is True
    assert conjunction([True, None]) is None
    assert conjunction([None, False]) is False
    assert conjunction([]) is True


def test_claim_set_shares_fields_lets_rows_override_them_and_lists_not_run_rows():
    from attnlab.claims import ClaimSet, claim_row

    claims = ClaimSet("toy", "A paper (arXiv 0000.00000)", scale="smoke", seeds=[0, 1], substitute=True)
    fields = dict(claim="c", metric="m", threshold="t", paper_value="p", measured="0.9/0.8")
    first = claims.add(**fields, per_seed_pass=[True, True], per_seed_values={"acc": {0: 0.9, 1: 0.8}})
    assert first == claim_row(experiment="toy", paper="A paper (arXiv 0000.00000)", scale="smoke", seeds=[0, 1],
                              substitute=True, **fields, per_seed_pass=[True, True],
                              per_seed_values={"acc": {0: 0.9, 1: 0.8}})
    second = claims.add(**fields, per_seed_pass=[True, False, None], seeds=[0, 1, 2], substitute=False)
    assert (second["seeds"], second["substitute"], second["verdict"]) == ([0, 1, 2], False, INCONCLUSIVE)
    third = claims.not_reproduced("needs a 7B model", why="no checkpoints here")
    assert (third["verdict"], third["measured"], third["scale"]) == ("NOT RUN", "not reproduced: no checkpoints here",
                                                                    "smoke")
    assert claims.rows == [first, second, third] and first["verdict"] == PASS

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


def _metrics(fact_c, fact_full, fact_ce, comb_c, small_c=None, n=20, fact_train=None, comb_train=None,
             small_train=None, task="n20m5", optimizer="adam"):
    """One row per (run, seed) of the OCR metrics check_claims reads; train CE 0.001 unless given."""
    rows = []
    k = len(fact_c)
    fact_train, comb_train, small_train = (v or [0.001] * k for v in (fact_train, comb_train, small_train))
    for s, (a, b, c, d) in enumerate(zip(fact_c, fact_full, fact_ce, comb_c)):
        base = {"task": task, "seed_index": s, "n_pairs": n}
        rows.append({**base, "run": f"factorized-d16-{optimizer}", "test_acc_c": a, "test_acc_full": b,
                     "test_ce": c, "train_ce": fact_train[s]})
        rows.append({**base, "run": f"combined-{optimizer}", "test_acc_c": d, "test_acc_full": d, "test_ce": 3.1,
                     "train_ce": comb_train[s]})
        if small_c is not None:
            rows.append({**base, "run": f"factorized-d4-{optimizer}", "test_acc_c": small_c[s],
                         "test_acc_full": 0.0, "test_ce": 3.0, "train_ce": small_train[s]})
    return pd.DataFrame(rows)


def _rows(df, small=4, bar=0.1, also=()):
    return check_claims(df, task="n20m5", head_dim=16, small_head_dim=small, optimizer="adam", scale="mini",
                        train_loss_bar=bar, also=also)


def _verdicts(df, small=4, **kw):
    return [r["verdict"] for r in _rows(df, small, **kw)]


# rows: (1a) factorized generalises over the c-tokens, (1b) combined stays at chance, (2) factorized
# over the full vocabulary, the small head dim, the LLM table (NOT RUN)
def test_ocr_claims_pass_fail_inconclusive():
    ok = _metrics([1, 1, 1], [1, 1, 1], [0.01, 0.02, 0.01], [0.05, 0.05, 0.03], small_c=[1, 0.95, 0.9])
    assert _verdicts(ok) == [PASS, PASS, PASS, PASS, "NOT RUN"]
    # the reference run's seed 2: ranks the c-tokens right, outputs the fact's answer
    mixed = _metrics([1, 1, 1], [1, 0, 1], [0.015, 2.9, 0.008], [0.05, 0.05, 0.03], small_c=[0.74, 0.7, 0.8])
    assert _verdicts(mixed) == [PASS, PASS, INCONCLUSIVE, FAIL, "NOT RUN"]
    # combined above 2× chance on every seed: the contrast the paper claims is absent
    leak = _metrics([1, 1, 1], [1, 1, 1], [0.01] * 3, [0.5, 0.6, 0.5])
    assert _verdicts(leak, small=None)[:3] == [PASS, FAIL, PASS]
    # the CE bound is log(n)/2
    ce = _metrics([1] * 3, [1] * 3, [math.log(20) / 2 + 0.01] * 3, [0.05] * 3)
    assert _verdicts(ce, small=None)[2] == FAIL
    # 2× chance at n=20 is 0.10: exactly at it holds, above it fails
    assert _verdicts(_metrics([1] * 3, [1] * 3, [0.01] * 3, [0.10] * 3), small=None)[1] == PASS
    assert _verdicts(_metrics([1] * 3, [1] * 3, [0.01] * 3, [0.11] * 3), small=None)[1] == FAIL


def test_ocr_combined_at_chance_counts_only_when_the_combined_model_fits_its_training_set():
    # issue 13: plain GD's combined model sits on the plateau at train CE ≈ log 20 = 3.0 with train
    # accuracy 1; its chance-level held-out accuracy says nothing about the paper's claim
    plateau = _metrics([1] * 3, [1] * 3, [0.01] * 3, [0.05] * 3, comb_train=[2.95, 2.93, 2.95])
    rows = _rows(plateau, small=None)
    assert [r["verdict"] for r in rows] == [PASS, INCONCLUSIVE, PASS, "NOT RUN"]
    assert rows[1]["why"].startswith("under-trained: ")
    assert rows[1]["why"].endswith("= 2.95 / 2.93 / 2.95 > 0.1 (seeds 0, 1, 2)")  # the metric named once
    assert rows[1]["competence"]["bar"] == 0.1 and rows[1]["competence"]["at_least"] is False
    assert rows[1]["per_seed_pass"] == [None, None, None]
    # one seed short of the fit: still INCONCLUSIVE, and only that seed is named
    one = _metrics([1] * 3, [1] * 3, [0.01] * 3, [0.05] * 3, comb_train=[0.02, 0.5, 0.03])
    row = _rows(one, small=None)[1]
    assert row["verdict"] == INCONCLUSIVE and "(seed 1)" in row["why"] and "(seed 0)" not in row["why"]
    # at the bar counts as fitted (≤); a looser bar lets the same run decide
    assert _verdicts(_metrics([1] * 3, [1] * 3, [0.01] * 3, [0.05] * 3, comb_train=[0.1] * 3), small=None)[1] == PASS
    assert _verdicts(plateau, small=None, bar=3.0)[1] == PASS
    # a combined model that fitted and generalises anyway is a FAIL, not hidden by the gate
    assert _verdicts(_metrics([1] * 3, [1] * 3, [0.01] * 3, [0.9] * 3), small=None)[1] == FAIL


def test_ocr_factorized_claims_are_gated_on_the_factorized_fit():
    unfit = _metrics([1] * 3, [1] * 3, [0.01] * 3, [0.05] * 3, small_c=[1] * 3, fact_train=[0.001, 0.4, 0.001],
                     small_train=[0.2] * 3)
    rows = _rows(unfit)
    assert [r["verdict"] for r in rows] == [INCONCLUSIVE, PASS, INCONCLUSIVE, INCONCLUSIVE, "NOT RUN"]
    assert "factorized" in rows[0]["why"] and "(seed 1)" in rows[0]["why"]
    assert "factorized-d4-adam" in rows[3]["why"]
    # a factorized model that fitted and stays at chance: FAIL (the gate never turns a FAIL into a pass)
    flat = _metrics([0.05] * 3, [0.0] * 3, [3.0] * 3, [0.05] * 3)
    assert _verdicts(flat, small=None)[:3] == [FAIL, PASS, FAIL]
    # a missing train CE (not measured) fails the gate
    nan = _metrics([1] * 3, [1] * 3, [0.01] * 3, [0.05] * 3, fact_train=[0.001, float("nan"), 0.001])
    assert _rows(nan, small=None)[0]["why"] == "under-trained: " + (
        "train CE of factorized W_OV (factorized-d16-adam, task n20m5) on its training facts and implications "
        "not measured (seed 1)")


def test_ocr_claims_for_other_tasks_and_optimizers_get_their_own_gated_rows():
    primary = _metrics([1] * 3, [1] * 3, [0.01] * 3, [0.05] * 3)
    gd = _metrics([1] * 3, [1] * 3, [0.01] * 3, [0.05] * 3, optimizer="gd", comb_train=[2.95] * 3)
    variant = _metrics([0.5] * 3, [0.5] * 3, [1.0] * 3, [0.05] * 3, task="n20m1t5")
    df = pd.concat([primary, gd, variant], ignore_index=True)
    rows = _rows(df, small=None, also=[("n20m5", "gd"), ("n20m1t5", "adam")])
    assert [r["verdict"] for r in rows] == [PASS, PASS, PASS,  # n20m5 adam
                                            PASS, INCONCLUSIVE, PASS,  # n20m5 gd: combined on the plateau
                                            FAIL, PASS, FAIL,  # n20m1t5 adam
                                            "NOT RUN"]
    assert "combined-gd" in rows[4]["why"]
    assert "task n20m1t5, adam" in rows[6]["metric"]


def test_ocr_claims_need_both_variants():
    df = _metrics([1], [1], [0.1], [0.05])
    with pytest.raises(AttnlabError, match="combined-adam"):
        check_claims(df[df.run != "combined-adam"], task="n20m5", head_dim=16, small_head_dim=None,
                     optimizer="adam", scale="mini", train_loss_bar=0.1)


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
    first = claims.add(kind="paper", **fields, per_seed_pass=[True, True], per_seed_values={"acc": {0: 0.9, 1: 0.8}})
    assert first == claim_row(kind="paper", experiment="toy", paper="A paper (arXiv 0000.00000)", scale="smoke",
                              seeds=[0, 1], substitute=True, **fields, per_seed_pass=[True, True],
                              per_seed_values={"acc": {0: 0.9, 1: 0.8}})
    second = claims.add(kind="check", **fields, per_seed_pass=[True, False, None], seeds=[0, 1, 2], substitute=False)
    assert (second["seeds"], second["substitute"], second["verdict"]) == ([0, 1, 2], False, INCONCLUSIVE)
    third = claims.not_reproduced("needs a 7B model", why="no checkpoints here", kind="paper")
    assert (third["verdict"], third["measured"], third["scale"]) == ("NOT RUN", "not reproduced: no checkpoints here",
                                                                    "smoke")
    assert claims.rows == [first, second, third] and first["verdict"] == PASS
    assert [r["kind"] for r in claims.rows] == ["paper", "check", "paper"]


# --- claim kinds: paper / caveat / check, stated at every call site ---------------------------------

_FIELDS = dict(experiment="toy", paper="A paper", claim="c", metric="m", threshold="t", paper_value="p",
               measured="1.0", per_seed_pass=[True], substitute=False, scale="smoke", seeds=[0])


def test_kind_is_required_everywhere_and_validated():
    from attnlab.claims import KINDS, ClaimSet, claim_row, not_reproduced_row

    assert KINDS == ("paper", "caveat", "check")
    for kind in KINDS:
        assert claim_row(kind=kind, **_FIELDS)["kind"] == kind
    with pytest.raises(TypeError, match="kind"):
        claim_row(**_FIELDS)
    for bad in ("Paper", "sanity", "", None):
        with pytest.raises(AttnlabError, match="paper, caveat, check"):
            claim_row(kind=bad, **_FIELDS)
        with pytest.raises(AttnlabError, match="not one of"):
            not_reproduced_row(kind=bad, experiment="toy", paper="P", claim="c", why="w", scale="smoke")
    with pytest.raises(TypeError, match="kind"):
        not_reproduced_row(experiment="toy", paper="P", claim="c", why="w", scale="smoke")
    claims = ClaimSet("toy", "P", scale="smoke", seeds=[0])
    fields = {k: v for k, v in _FIELDS.items() if k not in ("experiment", "paper", "scale", "seeds", "substitute")}
    with pytest.raises(TypeError, match="kind"):
        claims.add(**fields)
    with pytest.raises(TypeError, match="kind"):
        claims.not_reproduced("c", why="w")
    with pytest.raises(AttnlabError):
        claims.add(kind="self-check", **fields)
    assert claims.rows == []  # a rejected row is not appended
    assert claims.not_reproduced("c", why="w", kind="paper")["kind"] == "paper"


def _claim_calls(tree):
    """Every call that makes a claim row in one module: claim_row(...), not_reproduced_row(...), and
    .add(...) / .not_reproduced(...) on a name bound to ClaimSet(...)."""
    import ast

    sets = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", None) == "ClaimSet" for t in node.targets if isinstance(t, ast.Name)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in ("claim_row", "not_reproduced_row"):
            yield node
        elif (isinstance(f, ast.Attribute) and f.attr in ("add", "not_reproduced")
              and isinstance(f.value, ast.Name) and f.value.id in sets):
            yield node


def test_every_claim_call_in_every_evaluate_step_states_its_kind():
    import ast
    from pathlib import Path

    import attnlab
    from attnlab.claims import KINDS

    steps = sorted(Path(attnlab.__file__).parent.glob("*/evaluate.py"))
    assert len(steps) >= 13
    kinds_seen = set()
    for path in steps:
        calls = list(_claim_calls(ast.parse(path.read_text())))
        assert calls, f"{path}: no claim rows found"
        for call in calls:
            where = f"{path}:{call.lineno}"
            kind = [k for k in call.keywords if k.arg == "kind"]
            assert kind, f"{where}: claim call without kind="
            assert isinstance(kind[0].value, ast.Constant) and kind[0].value.value in KINDS, \
                f"{where}: kind must be a literal, one of {KINDS}"
            kinds_seen.add(kind[0].value.value)
    assert kinds_seen == set(KINDS)


def test_the_self_checks_the_issue_names_are_checks_and_the_icl_caveats_caveats():
    """The rows issue 13 names: the MoH active-head fraction (true by construction), the image_world
    parser ceiling, the MuCR rule engine on ground-truth renders; the ICL caveat rows."""
    import ast
    from pathlib import Path

    import attnlab

    root = Path(attnlab.__file__).parent

    def kinds_of(exp, needle):
        tree = ast.parse((root / exp / "evaluate.py").read_text())
        out = []
        for call in _claim_calls(tree):
            text = ast.unparse(call)
            if needle in text:
                out += [k.value.value for k in call.keywords if k.arg == "kind"]
        assert out, (exp, needle)
        return out

    assert kinds_of("moh", "activates the target fraction") == ["check"]
    assert kinds_of("image_world", "world parser reads ground-truth renders") == ["check"]
    assert kinds_of("mucr", "rule-engine reasoner solves") == ["check"]
    assert kinds_of("icl_regression", "Caveat") == ["caveat"] * 3  # + the seed-dependence caveat (weight_claims_on)


# --- results/claims.md: paper claims first with their tally, then caveats and checks ---------------

def _row(exp, kind, claim, verdict):
    return {"experiment": exp, "kind": kind, "paper": "P", "claim": claim, "metric": "m", "threshold": "t",
            "paper_value": "p", "measured": "x", "verdict": verdict, "per_seed_pass": [], "per_seed_values": {},
            "substitute": False, "scale": "smoke", "seeds": [0, 1, 2]}


def _claims_file(path, exp, rows):
    import json

    prov = {"git_commit": "abc", "config_hash": "h", "scale": "smoke", "seeds": [0, 1, 2], "wall_time_s": 1.0}
    doc = {"experiment": exp, "claims": rows, "provenance": prov}
    path.write_text(json.dumps(doc))
    return str(path)


def _run_claims_md(tmp_path, files):
    from attnlab.cli import StepArgs
    from attnlab.report.claims_md import main

    out = {k: [str(tmp_path / f"claims.{k}")] for k in ("md", "csv", "html")}
    main(StepArgs({"claims": files}, out, {}))
    return {k: (tmp_path / f"claims.{k}").read_text() for k in out}


def test_claims_md_leads_with_paper_claims_and_counts_only_them(tmp_path):
    a = [_row("a", "check", "CHK-1 parser ceiling", PASS), _row("a", "paper", "PAP-1", PASS),
         _row("a", "paper", "PAP-2", PASS), _row("a", "check", "CHK-2 active fraction", PASS),
         _row("a", "paper", "PAP-3", FAIL)]
    b = [_row("b", "caveat", "CAV-1 not Bayes", FAIL), _row("b", "paper", "PAP-4", PASS),
         _row("b", "paper", "PAP-5 needs a 7B model", "NOT RUN")]
    out = _run_claims_md(tmp_path, [_claims_file(tmp_path / "a.json", "a", a),
                                    _claims_file(tmp_path / "b.json", "b", b)])
    md = out["md"]
    assert "**3/4 paper claims PASS (1 FAIL, 0 INCONCLUSIVE); 1 more NOT RUN here; 5 in all.**" in md
    head = md.index("**3/4 paper claims PASS")
    paper, caveats, checks, prov = (md.index(s) for s in ("## Paper claims", "## Caveats", "## Checks",
                                                          "## Provenance"))
    assert head < paper < caveats < checks < prov
    for i in range(1, 6):
        assert paper < md.index(f"PAP-{i}") < caveats
    assert caveats < md.index("CAV-1") < checks
    assert checks < md.index("CHK-1") < prov and checks < md.index("CHK-2") < prov
    assert "Verdicts: FAIL 1." in md[caveats:checks] and "Verdicts: PASS 2." in md[checks:prov]
    # the paper rows keep their file order; the kind column is in the CSV, not in the sectioned tables
    assert md.index("PAP-1") < md.index("PAP-2") < md.index("PAP-3") < md.index("PAP-4")
    assert "| kind |" not in md
    csv = pd.read_csv(tmp_path / "claims.csv")
    assert list(csv["kind"]) == ["paper"] * 5 + ["caveat"] + ["check"] * 2
    assert csv.groupby("kind")["verdict"].apply(list).to_dict() == {
        "paper": [PASS, PASS, FAIL, PASS, "NOT RUN"], "caveat": [FAIL], "check": [PASS, PASS]}
    assert "3/4 paper claims PASS" in out["html"] and "<h3>Checks</h3>" in out["html"]


def test_claims_md_with_no_caveats_or_checks_and_inconclusive(tmp_path):
    rows = [_row("a", "paper", "PAP-1", INCONCLUSIVE), _row("a", "paper", "PAP-2", PASS)]
    md = _run_claims_md(tmp_path, [_claims_file(tmp_path / "a.json", "a", rows)])["md"]
    assert "1/2 paper claims PASS (0 FAIL, 1 INCONCLUSIVE); 0 more NOT RUN here; 2 in all." in md
    assert md.count("None.") == 2  # caveats and checks sections, empty


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.pop("provenance"), "claims file has no provenance"),
    (lambda d: d.pop("claims"), "claims file has no claims"),
    (lambda d: d["provenance"].pop("git_commit"), "provenance has no git_commit"),
    (lambda d: d["claims"][1].pop("verdict"), "claim 2 has no verdict"),
    (lambda d: d["claims"][0].pop("kind"), "claim 1 has no kind"),
    (lambda d: d["claims"][0].update(kind="sanity"), "claim 1: kind 'sanity' is not one of paper, caveat, check"),
    (lambda d: d["claims"][0].update(verdict="MAYBE"), "claim 1: verdict 'MAYBE' is not one of"),
    (lambda d: d.update(claims={"a": 1}), "'claims' is not a list"),
])
def test_a_malformed_claims_file_ends_in_one_error_line_naming_it(tmp_path, capsys, edit, message):
    import json

    from attnlab.cli import run_step
    from attnlab.report.claims_md import main

    path = tmp_path / "bad.json"
    _claims_file(path, "a", [_row("a", "paper", "c", PASS), _row("a", "check", "d", PASS)])
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(SystemExit) as e:
        run_step(main, argv=["--input", "claims", str(path), "--output", "md", str(tmp_path / "c.md")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: ") and message in err, err
    assert "\n" not in err and not (tmp_path / "c.md").exists()


# --- competence gates: a claim about a trained model waits until the model has learned ------------

def test_gap_closed_is_one_at_the_oracle_zero_at_the_baseline():
    from attnlab.claims import gap_closed

    assert gap_closed(1.0, baseline=3.0, oracle=1.0) == 1.0
    assert gap_closed(3.0, baseline=3.0, oracle=1.0) == 0.0
    assert gap_closed(2.5, baseline=3.0, oracle=1.0) == pytest.approx(0.25)
    assert gap_closed(3.5, baseline=3.0, oracle=1.0) < 0
    with pytest.raises(AttnlabError, match="not above the oracle"):
        gap_closed(1.0, baseline=1.0, oracle=2.0)


def test_a_seed_below_the_bar_makes_the_claim_inconclusive_never_pass_or_fail():
    from attnlab.claims import Competence, claim_row

    fields = dict(kind="paper", experiment="e", paper="P", claim="c", metric="m", paper_value="p", measured="x",
                  threshold="t", substitute=False, scale="smoke", seeds=[0, 1, 2])
    acc = Competence("exact match", 0.9, {0: 0.95, 1: 0.42, 2: 0.91})
    row = claim_row(per_seed_pass=[True, True, True], competence=acc, **fields)
    assert row["verdict"] == INCONCLUSIVE and row["per_seed_pass"] == [True, None, True]
    assert row["why"] == "under-trained: exact match = 0.42 < 0.9 (seed 1)"
    # an under-trained seed cannot turn a FAIL into a FAIL either
    assert claim_row(per_seed_pass=[False] * 3, competence=acc, **fields)["verdict"] == INCONCLUSIVE
    # every seed competent: the checks decide, and the gate is recorded
    ok = Competence("exact match", 0.9, {0: 0.95, 1: 0.9, 2: 0.91})
    row = claim_row(per_seed_pass=[False] * 3, competence=ok, **fields)
    assert row["verdict"] == FAIL and row["why"] == "" and row["competence"]["bar"] == 0.9
    # a loss gate must fall to its bar; a missing or NaN value fails it
    loss = Competence("train loss", 1.5, {0: 1.2, 1: float("nan"), 2: 1.6}, at_least=False)
    assert [loss.met(s) for s in (0, 1, 2)] == [True, False, False]
    why = claim_row(per_seed_pass=[True] * 3, competence=loss, **fields)["why"]
    assert why == "under-trained: train loss not measured (seed 1); train loss = 1.6 > 1.5 (seed 2)"
    # several seeds under the bar: the metric named once, their values in seed order
    low = Competence("caption accuracy above chance", 0.5, {0: -0.033, 1: 0.6, 2: -0.0547, 3: None})
    why = claim_row(per_seed_pass=[True] * 4, competence=low, **{**fields, "seeds": [0, 1, 2, 3]})["why"]
    assert why == ("under-trained: caption accuracy above chance not measured (seed 3); "
                   "caption accuracy above chance = -0.033 / -0.0547 < 0.5 (seeds 0, 2)")
    # seeds that disagree say so
    row = claim_row(per_seed_pass=[True, False, True], competence=ok, **fields)
    assert row["why"] == "seeds disagree: holds on seed 0, 2, fails on seed 1"
    assert Competence.from_dict(acc.to_dict()) == acc


def test_a_trained_claim_set_refuses_a_paper_claim_without_a_gate():
    from attnlab.claims import ClaimSet, Competence

    row = dict(claim="c", metric="m", paper_value="p", measured="x", threshold="t", per_seed_pass=[True])
    claims = ClaimSet("e", "P", scale="smoke", seeds=[0], trained=True)
    with pytest.raises(AttnlabError, match="names no competence gate"):
        claims.add(kind="paper", **row)
    claims.add(kind="check", **row)  # a check of our own tools may stand without one
    gate = Competence("accuracy", 0.5, {0: 0.2})
    assert claims.add(kind="caveat", competence=gate, **row)["verdict"] == INCONCLUSIVE
    shared = ClaimSet("e", "P", scale="smoke", seeds=[0], competence=gate)
    assert shared.add(kind="paper", **row)["why"].startswith("under-trained: accuracy = 0.2 < 0.5")
    assert shared.add(kind="check", **row)["verdict"] == PASS  # the set's gate is for paper and caveat rows


def test_claims_md_shows_the_gate_and_why_a_row_is_inconclusive(tmp_path):
    from attnlab.claims import Competence
    from attnlab.tables import competence_notes

    gate = Competence("exact match", 0.9, {0: 0.95, 1: 0.42, 2: 0.91}).to_dict()
    rows = [{**_row("a", "paper", "PAP-1", INCONCLUSIVE), "competence": gate,
             "why": "under-trained: exact match = 0.42 < 0.9 (seed 1)"}, _row("a", "paper", "PAP-2", PASS)]
    out = _run_claims_md(tmp_path, [_claims_file(tmp_path / "a.json", "a", rows)])
    line = next(ln for ln in out["md"].splitlines() if "PAP-1" in ln)
    assert "exact match ≥ 0.9 (2/3 seeds)" in line
    assert "INCONCLUSIVE (under-trained: exact match = 0.42 < 0.9 (seed 1))" in line
    assert "| — |" in next(ln for ln in out["md"].splitlines() if "PAP-2" in ln)
    csv = pd.read_csv(tmp_path / "claims.csv")
    assert list(csv["gate"].fillna("")) == ["exact match ≥ 0.9 (2/3 seeds)", "—"]
    assert competence_notes(rows) == [
        "Competence gate (fixed before the run; a seed below it is INCONCLUSIVE): exact match ≥ 0.9. "
        "seed 0: 0.95, seed 1: 0.42 (under-trained), seed 2: 0.91."]

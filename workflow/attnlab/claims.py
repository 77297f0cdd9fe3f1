"""Claim rows: a verdict computed from measured numbers over seeds, never written by hand."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from attnlab import AttnlabError

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
VERDICTS = (PASS, FAIL, INCONCLUSIVE)
NOT_RUN = "NOT RUN"

# What a claim row is, stated at every call site (no default, so nobody forgets it):
#   paper  - what the paper asserts (a reproduction; NOT RUN rows of such claims are paper rows too);
#   caveat - a limit of the paper's claim that the spec names (e.g. "does not reach Bayes");
#   check  - a sanity or implementation check of our own tools (a parser ceiling, a property true
#            by construction, a model drawing what its caption says).
# Only paper rows count as reproductions in results/claims.md.
KINDS = ("paper", "caveat", "check")


def check_kind(kind) -> str:
    """`kind` if it is one of KINDS, else an AttnlabError naming the allowed kinds."""
    if kind not in KINDS:
        raise AttnlabError(f"claim kind {kind!r} is not one of {', '.join(KINDS)}")
    return kind


@dataclass(frozen=True)
class Competence:
    """The competence a claim about a trained model presupposes, with each seed's measurement.

    A seed whose model is below the bar is under-trained: its check counts neither for nor against
    the claim, and the claim's verdict is INCONCLUSIVE (under-trained: ...) (claim_row).

    metric    what is measured, in words ("exact match at the training length, fresh data");
    bar       the level, fixed in the spec before the run (a config key whose reference is the
              spec's value, so a changed bar is listed among the table's deviations);
    values    seed -> measured value (None or NaN: not measured, which fails the gate);
    at_least  True when the value must reach the bar from below (an accuracy, a share of a gap
              closed), False when it must fall to it (a loss);
    label     what a seed below the bar is: "under-trained" for a model; for an instrument that
              must be in range before it measures (a timing sweep's quadratic regime), say so.
    """

    metric: str
    bar: float
    values: Mapping[int, float | None]
    at_least: bool = True
    label: str = "under-trained"

    def value(self, seed: int) -> float | None:
        v = self.values.get(seed, self.values.get(str(seed)))  # JSON round trips make keys strings
        return None if v is None or not math.isfinite(float(v)) else float(v)

    def met(self, seed: int) -> bool:
        v = self.value(seed)
        return v is not None and (v >= self.bar if self.at_least else v <= self.bar)

    @property
    def gate(self) -> str:
        """'exact match ≥ 0.9'"""
        return f"{self.metric} {'≥' if self.at_least else '≤'} {self.bar:g}"

    def shortfall(self, seeds: Sequence[int]) -> str:
        """Why `seeds` are under-trained, the metric named once: 'exact match = 0.42 < 0.9 (seed 1)',
        'exact match = 0.42 / 0.1 < 0.9 (seeds 1, 2)'; seeds without a value first, as 'exact
        match not measured (seed 0); ...'."""
        def which(ss):
            return f"(seed{'s' if len(ss) > 1 else ''} {', '.join(map(str, ss))})"
        value = {s: self.value(s) for s in seeds}
        missing = [s for s in seeds if value[s] is None]
        measured = [s for s in seeds if value[s] is not None]
        parts = [f"{self.metric} not measured {which(missing)}"] if missing else []
        if measured:
            values = " / ".join(f"{value[s]:.3g}" for s in measured)
            parts.append(f"{self.metric} = {values} {'<' if self.at_least else '>'} {self.bar:g} {which(measured)}")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"metric": self.metric, "bar": self.bar, "at_least": self.at_least, "label": self.label,
                "values": {str(s): self.value(s) for s in self.values}}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Competence":
        return cls(d["metric"], float(d["bar"]), {int(s): v for s, v in d["values"].items()}, bool(d["at_least"]),
                   d.get("label", "under-trained"))


def gap_closed(loss: float, baseline: float, oracle: float) -> float:
    """The share of the gap between a baseline loss (a model without the mechanism, or a context-
    free guess) and an oracle loss (the best achievable) that `loss` closes: 1 at the oracle, 0 at
    the baseline, negative when worse than the baseline."""
    if not baseline > oracle:
        raise AttnlabError(f"gap_closed: the baseline loss {baseline:.4g} is not above the oracle loss {oracle:.4g}")
    return (baseline - loss) / (baseline - oracle)


def verdict_over_seeds(per_seed: Sequence[bool | None]) -> str:
    """PASS if the check holds on every seed, FAIL if on none; seeds that disagree, or a seed
    that could not be measured (None), or no seeds at all, give INCONCLUSIVE."""
    if not per_seed or any(v is None for v in per_seed):
        return INCONCLUSIVE
    if all(per_seed):
        return PASS
    if not any(per_seed):
        return FAIL
    return INCONCLUSIVE


def verdict_reason(per_seed: Sequence[bool | None], seeds: Sequence[int],
                   competence: Competence | None = None) -> str:
    """Why a row's verdict is INCONCLUSIVE, in words ('' when it is not): under-trained seeds
    (with their competence values), seeds that could not be measured, or seeds that disagree."""
    if competence is not None:
        under = [s for s in seeds if not competence.met(s)]
        if under:
            return f"{competence.label}: {competence.shortfall(under)}"
    if not per_seed:
        return "no seeds"
    missing = [s for s, v in zip(seeds, per_seed) if v is None]
    if missing:
        return f"not measured on seed {', '.join(map(str, missing))}"
    if all(per_seed) or not any(per_seed):
        return ""
    held = [str(s) for s, v in zip(seeds, per_seed) if v]
    failed = [str(s) for s, v in zip(seeds, per_seed) if not v]
    return f"seeds disagree: holds on seed {', '.join(held)}, fails on seed {', '.join(failed)}"


def conjunction(checks: Sequence[bool | None]) -> bool | None:
    """Several checks that must all hold on one seed: False if any is shown false, else None if
    any is undecided, else True."""
    if False in checks:
        return False
    return None if None in checks else True


def claim_row(
    *,
    kind: str,
    experiment: str,
    paper: str,
    claim: str,
    metric: str,
    paper_value: str,
    measured: str,
    per_seed_pass: Sequence[bool | None],
    per_seed_values: dict | None = None,
    threshold: str,
    substitute: bool,
    scale: str,
    seeds: Sequence[int],
    competence: Competence | None = None,
) -> dict:
    """One claim row; its verdict is verdict_over_seeds(per_seed_pass) after the competence gate:
    a seed below `competence`'s bar counts as None (under-trained), so the row is INCONCLUSIVE,
    and `why` says which seed and by how much. `kind` is one of KINDS."""
    seeds = list(seeds)
    if competence is not None and len(per_seed_pass) != len(seeds):
        raise AttnlabError(f"claim {claim!r}: {len(per_seed_pass)} per-seed checks for {len(seeds)} seeds")
    gated = [None if v is None else bool(v) for v in per_seed_pass]
    if competence is not None:
        gated = [None if not competence.met(s) else v for s, v in zip(seeds, gated)]
    verdict = verdict_over_seeds(gated)
    return {
        "experiment": experiment,
        "kind": check_kind(kind),
        "paper": paper,
        "claim": claim,
        "metric": metric,
        "threshold": threshold,
        "paper_value": paper_value,
        "measured": measured,
        "verdict": verdict,
        "why": verdict_reason(per_seed_pass, seeds, competence) if verdict == INCONCLUSIVE else "",
        "competence": None if competence is None else competence.to_dict(),
        "per_seed_pass": gated,
        "per_seed_values": per_seed_values or {},
        "substitute": bool(substitute),
        "scale": scale,
        "seeds": seeds,
    }


def not_reproduced_row(*, kind: str, experiment: str, paper: str, claim: str, why: str, scale: str) -> dict:
    """A claim the paper makes that this project cannot run here, listed so nobody assumes it was
    (kind "paper" as a rule: a reproduction we could not run)."""
    return {
        "experiment": experiment,
        "kind": check_kind(kind),
        "paper": paper,
        "claim": claim,
        "metric": "—",
        "threshold": "—",
        "paper_value": "—",
        "measured": f"not reproduced: {why}",
        "verdict": NOT_RUN,
        "why": why,
        "competence": None,
        "per_seed_pass": [],
        "per_seed_values": {},
        "substitute": False,
        "scale": scale,
        "seeds": [],
    }


class ClaimSet:
    """The claim rows of one experiment's evaluate step, with the fields every row shares
    (experiment, paper, scale, seeds, substitute) given once; every row states its kind.

        claims = ClaimSet("moh", PAPER, scale=scale, seeds=seeds, substitute=True)
        claims.add(kind="paper", claim=..., metric=..., threshold=..., paper_value=..., measured=...,
                   per_seed_pass=[...], per_seed_values={...})
        claims.add(kind="check", ..., substitute=False)  # any shared field can be overridden per row
        claims.not_reproduced("a claim we cannot run", why="needs a 7B checkpoint", kind="paper")
        return claims.rows

    An experiment on trained models gives `competence` (attnlab.claims.Competence): the gate every
    paper and caveat row presupposes unless a row gives its own (`competence=` in add). With
    `trained=True` and no gate, adding a paper or caveat row is an error: a claim about a trained
    model waits for competence.
    """

    def __init__(self, experiment: str, paper: str, *, scale: str, seeds: Sequence[int] = (),
                 substitute: bool = False, competence: Competence | None = None, trained: bool = False):
        self.experiment, self.paper, self.scale = experiment, paper, scale
        self.seeds, self.substitute = list(seeds), substitute
        self.competence, self.trained = competence, trained or competence is not None
        self.rows: list[dict] = []

    def add(self, *, kind: str, **fields) -> dict:
        """Append a claim_row of `kind` built from the shared fields and `fields` (which win);
        returns it. Paper and caveat rows take the set's competence gate unless given their own."""
        shared = dict(experiment=self.experiment, paper=self.paper, scale=self.scale, seeds=self.seeds,
                      substitute=self.substitute)
        if kind in ("paper", "caveat"):
            shared["competence"] = self.competence
            if self.trained and fields.get("competence", self.competence) is None:
                raise AttnlabError(f"{self.experiment}: the {kind} claim {fields.get('claim')!r} is about a trained "
                                   "model and names no competence gate")
        row = claim_row(kind=kind, **{**shared, **fields})
        self.rows.append(row)
        return row

    def not_reproduced(self, claim: str, why: str, *, kind: str) -> dict:
        """Append a NOT RUN row: a claim that cannot be run here, and why."""
        row = not_reproduced_row(kind=kind, experiment=self.experiment, paper=self.paper, claim=claim, why=why,
                                 scale=self.scale)
        self.rows.append(row)
        return row


def write_claims(path, experiment: str, claims: list[dict], params: dict, wall_time_s: float) -> None:
    """Write results/claims/<experiment>.json: the claim rows and their provenance.

    `params` are the step's params, which carry `config_hash`, `seeds`, `scale` and `base_seed`
    (rules/common.smk: common_params)."""
    from attnlab.io import write_json
    from attnlab.provenance import provenance

    write_json(path, {
        "experiment": experiment,
        "claims": claims,
        "provenance": provenance(config_hash=params["config_hash"], seeds=params["seeds"],
                                 wall_time_s=wall_time_s, scale=params["scale"],
                                 extra={"base_seed": params["base_seed"]}),
    })

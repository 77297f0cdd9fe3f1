"""Claim rows: a verdict computed from measured numbers over seeds, never written by hand."""

from __future__ import annotations

from typing import Sequence

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
) -> dict:
    """One claim row; its verdict is verdict_over_seeds(per_seed_pass). `kind` is one of KINDS."""
    return {
        "experiment": experiment,
        "kind": check_kind(kind),
        "paper": paper,
        "claim": claim,
        "metric": metric,
        "threshold": threshold,
        "paper_value": paper_value,
        "measured": measured,
        "verdict": verdict_over_seeds(per_seed_pass),
        "per_seed_pass": [None if v is None else bool(v) for v in per_seed_pass],
        "per_seed_values": per_seed_values or {},
        "substitute": bool(substitute),
        "scale": scale,
        "seeds": list(seeds),
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
    """

    def __init__(self, experiment: str, paper: str, *, scale: str, seeds: Sequence[int] = (),
                 substitute: bool = False):
        self.experiment, self.paper, self.scale = experiment, paper, scale
        self.seeds, self.substitute = list(seeds), substitute
        self.rows: list[dict] = []

    def add(self, *, kind: str, **fields) -> dict:
        """Append a claim_row of `kind` built from the shared fields and `fields` (which win);
        returns it."""
        shared = dict(experiment=self.experiment, paper=self.paper, scale=self.scale, seeds=self.seeds,
                      substitute=self.substitute)
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

"""Gather every experiment's claim rows into results/claims.md (and claims.csv, claims.html).

The paper claims come first, with their tally (PASS / FAIL / INCONCLUSIVE / NOT RUN over paper
claims only); caveats (limits of a claim that the spec names) and checks (sanity and
implementation checks of our own tools) follow in their own sections and never count as
reproductions. The CSV carries every row with its `kind`.
"""

from __future__ import annotations

import html

import pandas as pd

from attnlab import AttnlabError
from attnlab.claims import FAIL, INCONCLUSIVE, KINDS, NOT_RUN, PASS, VERDICTS
from attnlab.cli import StepArgs, run_step
from attnlab.io import read_json, write_text
from attnlab.tables import markdown_table

COLUMNS = ["experiment", "kind", "claim", "metric", "threshold", "paper_value", "measured", "verdict",
           "substitute", "scale", "seeds"]
# written by attnlab.claims.claim_row; optional here so an older claims file still reads
OPTIONAL = {"why": "", "competence": None}
PROVENANCE_KEYS = ("git_commit", "config_hash", "scale", "seeds", "wall_time_s")

# section title and the sentence under it, per kind, in the order they are written
SECTIONS = {
    "paper": ("Paper claims", "What each paper asserts, reproduced here (NOT RUN: a claim of the paper that "
                              "needs resources this project does not have)."),
    "caveat": ("Caveats", "Limits of a paper's claim that its spec names. Not reproductions: not counted "
                          "in the tally above."),
    "check": ("Checks", "Sanity and implementation checks of our own tools (parsers, models standing in for "
                        "pretrained ones, properties true by construction). Not reproductions: not counted "
                        "in the tally above."),
}


def validate(path, doc) -> None:
    """An AttnlabError `<path>: <what is wrong>` unless `doc` is a claims file as
    attnlab.claims.write_claims writes it: experiment, claims (rows with every column, a known
    kind and verdict) and provenance."""
    if not isinstance(doc, dict):
        raise AttnlabError(f"{path}: not a claims file (a JSON object with experiment, claims, provenance)")
    missing = [k for k in ("experiment", "claims", "provenance") if k not in doc]
    if missing:
        raise AttnlabError(f"{path}: claims file has no {', '.join(missing)}")
    if not isinstance(doc["claims"], list):
        raise AttnlabError(f"{path}: 'claims' is not a list of claim rows")
    prov = doc["provenance"]
    if not isinstance(prov, dict):
        raise AttnlabError(f"{path}: 'provenance' is not an object")
    missing = [k for k in PROVENANCE_KEYS if k not in prov]
    if missing:
        raise AttnlabError(f"{path}: provenance has no {', '.join(missing)}")
    for i, row in enumerate(doc["claims"], start=1):
        if not isinstance(row, dict):
            raise AttnlabError(f"{path}: claim {i} is not an object")
        missing = [k for k in COLUMNS if k not in row]
        if missing:
            raise AttnlabError(f"{path}: claim {i} has no {', '.join(missing)}")
        if row["kind"] not in KINDS:
            raise AttnlabError(f"{path}: claim {i}: kind {row['kind']!r} is not one of {', '.join(KINDS)}")
        if row["verdict"] not in (*VERDICTS, NOT_RUN):
            raise AttnlabError(f"{path}: claim {i}: verdict {row['verdict']!r} is not one of "
                               f"{', '.join((*VERDICTS, NOT_RUN))}")


def gather(claim_files: list[str]) -> tuple[pd.DataFrame, list[dict]]:
    """Every row of every claims file (validated), kinds in SECTIONS order and each kind's rows in
    file order; and each file's provenance."""
    rows, provs = [], []
    for path in claim_files:
        doc = read_json(path)
        validate(path, doc)
        provs.append({"experiment": doc["experiment"], **doc["provenance"]})
        rows += [{**OPTIONAL, **row} for row in doc["claims"]]
    columns = [*COLUMNS, *OPTIONAL]
    df = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    df["gate"] = [gate_text(c, s) for c, s in zip(df["competence"], df["seeds"])]
    df["seeds"] = df["seeds"].map(lambda s: len(s) if isinstance(s, list) else s)
    df["substitute"] = df["substitute"].map(lambda s: "yes" if s else "no")
    order = {k: i for i, k in enumerate(SECTIONS)}
    df = df.sort_values("kind", key=lambda k: k.map(order), kind="stable").reset_index(drop=True)
    return df, provs


def gate_text(competence, seeds) -> str:
    """The competence gate of a row, with how many of its seeds met it: 'exact match ≥ 0.9 (2/3
    seeds)'; '—' for a row that presupposes none."""
    if not isinstance(competence, dict):
        return "—"
    from attnlab.claims import Competence

    c = Competence.from_dict(competence)
    seeds = seeds if isinstance(seeds, list) else list(c.values)
    return f"{c.gate} ({sum(c.met(s) for s in seeds)}/{len(seeds)} seeds)"


def tally(df: pd.DataFrame) -> dict:
    """Verdict counts over the paper claims only: PASS, FAIL, INCONCLUSIVE, NOT RUN, `run` (the
    paper claims that were run) and `total`."""
    verdicts = df.loc[df["kind"] == "paper", "verdict"]
    counts = {v: int((verdicts == v).sum()) for v in (PASS, FAIL, INCONCLUSIVE, NOT_RUN)}
    return {**counts, "run": len(verdicts) - counts[NOT_RUN], "total": len(verdicts)}


def tally_line(t: dict) -> str:
    """The headline: e.g. '3/4 paper claims PASS (1 FAIL, 0 INCONCLUSIVE); 2 more NOT RUN here; 6 in all.'"""
    return (f"{t[PASS]}/{t['run']} paper claims PASS ({t[FAIL]} FAIL, {t[INCONCLUSIVE]} INCONCLUSIVE); "
            f"{t[NOT_RUN]} more NOT RUN here; {t['total']} in all.")


def verdict_counts(df: pd.DataFrame) -> str:
    """'PASS 2, FAIL 1' for the rows of a caveat or check section (none: 'none')."""
    counts = df["verdict"].value_counts()
    return ", ".join(f"{v} {int(counts[v])}" for v in (PASS, FAIL, INCONCLUSIVE, NOT_RUN) if v in counts) or "none"


def _display(df: pd.DataFrame) -> pd.DataFrame:
    """The rows as claims.md shows them: the verdict with its reason, the competence gate beside it."""
    out = df.assign(verdict=[f"{v} ({w})" if w else v for v, w in zip(df["verdict"], df["why"])])
    out = out.drop(columns=["kind", "why", "competence"])
    cols = list(out.columns)
    cols.insert(cols.index("verdict"), cols.pop(cols.index("gate")))
    return out[cols].rename(columns={"paper_value": "paper", "seeds": "n seeds", "gate": "competence gate"})


def provenance_lines(provs: list[dict]) -> list[str]:
    return [f"{p['experiment']}: commit {p['git_commit']}, config {p['config_hash']}, scale {p['scale']}, "
            f"seeds {p['seeds']}, wall time {p['wall_time_s']} s" for p in provs]


def render_md(df: pd.DataFrame, provs: list[dict]) -> str:
    lines = [
        "# attnlab — claims",
        "",
        "Every headline claim of every enabled experiment, with the verdict computed from our "
        "measurements over seeds (PASS / FAIL / INCONCLUSIVE; NOT RUN for claims that need "
        "resources this project does not have). `substitute: yes` marks a synthetic stand-in. "
        "Paper claims first; caveats and checks of our own tools follow and are not counted as reproductions.",
        "",
        f"**{tally_line(tally(df))}**",
        "",
    ]
    for kind, (title, about) in SECTIONS.items():
        rows = df[df["kind"] == kind]
        lines += [f"## {title}", "", about, ""]
        if kind != "paper":
            lines += [f"Verdicts: {verdict_counts(rows)}.", ""]
        lines += [markdown_table(_display(rows)) if len(rows) else "None.", ""]
    lines += ["## Provenance", "", *(f"- {line}" for line in provenance_lines(provs))]
    return "\n".join(lines) + "\n"


def render_html(df: pd.DataFrame, provs: list[dict]) -> str:
    parts = ["<h2>attnlab — claims</h2>",
             f"<p><b>{html.escape(tally_line(tally(df)))}</b></p>"]
    for kind, (title, about) in SECTIONS.items():
        rows = df[df["kind"] == kind]
        parts += [f"<h3>{html.escape(title)}</h3>", f"<p>{html.escape(about)}</p>"]
        if kind != "paper":
            parts.append(f"<p>Verdicts: {html.escape(verdict_counts(rows))}.</p>")
        parts.append(_display(rows).to_html(index=False, border=0) if len(rows) else "<p>None.</p>")
    prov = "".join(f"<li>{html.escape(line)}</li>" for line in provenance_lines(provs))
    parts.append(f"<h3>Provenance</h3>\n<ul>{prov}</ul>")
    return "\n".join(parts) + "\n"


def main(args: StepArgs) -> None:
    df, provs = gather(args.inputs.get("claims", []))
    write_text(args.output("md"), render_md(df, provs))
    if "csv" in args.outputs:
        write_text(args.output("csv"), df.drop(columns="competence").to_csv(index=False))
    if "html" in args.outputs:  # for the Snakemake report
        write_text(args.output("html"), render_html(df, provs))


if __name__ == "__main__":
    run_step(main, description=__doc__)

"""Gather every experiment's claim rows into results/claims.md (and claims.csv)."""

from __future__ import annotations

import html

import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.io import read_json, write_text
from attnlab.tables import markdown_table

COLUMNS = ["experiment", "claim", "metric", "threshold", "paper_value", "measured", "verdict",
           "substitute", "scale", "seeds"]


def gather(claim_files: list[str]) -> tuple[pd.DataFrame, list[dict]]:
    rows, provs = [], []
    for path in claim_files:
        doc = read_json(path)
        provs.append({"experiment": doc["experiment"], **doc["provenance"]})
        rows += doc["claims"]
    df = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)
    df["seeds"] = df["seeds"].map(lambda s: len(s) if isinstance(s, list) else s)
    df["substitute"] = df["substitute"].map(lambda s: "yes" if s else "no")
    return df, provs


def main(args: StepArgs) -> None:
    df, provs = gather(args.inputs.get("claims", []))
    counts = df["verdict"].value_counts().to_dict()
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    lines = [
        "# attnlab — claims",
        "",
        "Every headline claim of every enabled experiment, with the verdict computed from our "
        "measurements over seeds (PASS / FAIL / INCONCLUSIVE; NOT RUN for claims that need "
        "resources this project does not have). `substitute: yes` marks a synthetic stand-in.",
        "",
        f"Verdicts: {summary or 'none'}.",
        "",
        markdown_table(df.rename(columns={"paper_value": "paper", "seeds": "n seeds"})),
        "",
        "## Provenance",
        "",
    ]
    for p in provs:
        lines.append(
            f"- {p['experiment']}: commit {p['git_commit']}, config {p['config_hash']}, "
            f"scale {p['scale']}, seeds {p['seeds']}, wall time {p['wall_time_s']} s"
        )
    write_text(args.output("md"), "\n".join(lines) + "\n")
    if "csv" in args.outputs:
        write_text(args.output("csv"), df.to_csv(index=False))
    if "html" in args.outputs:  # for the Snakemake report
        prov = "".join(f"<li>{html.escape(line)}</li>" for line in lines[-len(provs):]) if provs else ""
        write_text(args.output("html"),
                   f"<h2>attnlab — claims</h2>\n<p>Verdicts: {html.escape(summary or 'none')}.</p>\n"
                   f"{df.to_html(index=False, border=0)}\n<ul>{prov}</ul>\n")


if __name__ == "__main__":
    run_step(main, description=__doc__)

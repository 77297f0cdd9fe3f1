"""Paper tables in Markdown, CSV and LaTeX (plus an HTML fragment for the Snakemake report)."""

from __future__ import annotations

import html

import pandas as pd

from attnlab import AttnlabError
from attnlab.io import read_json, write_text
from attnlab.provenance import provenance_lines

FORMATS = ("md", "csv", "tex", "html")


def table_paths(args) -> dict[str, str]:
    """The four table files a table step writes (its outputs md, csv, tex, html)."""
    return {k: args.output(k) for k in FORMATS}


def mean_sd(values, digits: int = 3) -> str:
    """'0.981 ± 0.012' over seeds ('—' when there is nothing to average)."""
    s = pd.Series(list(values), dtype="float64").dropna()
    if s.empty:
        return "—"
    if len(s) == 1:
        return f"{s.iloc[0]:.{digits}f}"
    return f"{s.mean():.{digits}f} ± {s.std(ddof=1):.{digits}f}"


def markdown_table(df: pd.DataFrame) -> str:
    def cell(v):
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(map(cell, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _latex(df: pd.DataFrame, title: str) -> str:
    tex = df.style.hide(axis="index").to_latex(
        hrules=True, column_format="l" * len(df.columns), caption=title
    )
    return tex.replace("±", r"$\pm$").replace("_", r"\_").replace("%", r"\%")


def write_table(
    paths: dict[str, str],
    display: pd.DataFrame,
    *,
    title: str,
    provenance: dict,
    numeric: pd.DataFrame | None = None,
    notes: list[str] = (),
) -> None:
    """Write the table to `paths["md"]`, `paths["csv"]`, `paths["tex"]` and `paths["html"]`.

    `display` holds formatted cells (mean ± sd); `numeric`, if given, is what the CSV holds
    (one number per cell, for re-analysis). Provenance goes in each file: a section in
    Markdown, `#` comment lines in CSV (read with `pd.read_csv(path, comment="#")`), `%` in LaTeX.
    """
    prov = provenance_lines(provenance)
    md = [f"# {title}", "", markdown_table(display), ""]
    md += [f"- {n}" for n in notes]
    md += ["", "## Provenance", "", *[f"- {line}" for line in prov], ""]
    write_text(paths["md"], "\n".join(md))

    csv = "".join(f"# {line}\n" for line in [title, *prov])
    csv += (numeric if numeric is not None else display).to_csv(index=False)
    write_text(paths["csv"], csv)

    tex = "".join(f"% {line}\n" for line in [title, *prov, *notes])
    write_text(paths["tex"], tex + _latex(display, title))

    rows = display.to_html(index=False, escape=True, border=0)
    notes_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    prov_html = "".join(f"<li>{html.escape(line)}</li>" for line in prov)
    write_text(
        paths["html"],
        f"<h2>{html.escape(title)}</h2>\n{rows}\n<ul>{notes_html}</ul>\n"
        f"<details><summary>provenance</summary><ul>{prov_html}</ul></details>\n",
    )


def per_seed_cell(g: pd.DataFrame, col: str, digits: int = 2) -> str:
    """'0.91/0.88/0.95': `col` of each seed's row of `g`, in seed order (a table's per-seed cell)."""
    return "/".join(f"{v:.{digits}f}" for v in g.sort_values("seed_index")[col])


def mean_sd_columns(g: pd.DataFrame, cols, sd: str = "sd") -> dict:
    """{'<name>_mean': mean, '<name>_<sd>': sd (ddof 1)} over the rows of `g` for each column: the
    numbers behind a mean ± sd cell, for a table's CSV. `cols` lists column names, or maps an
    output name to the column it summarises."""
    pairs = cols.items() if isinstance(cols, dict) else ((c, c) for c in cols)
    out = {}
    for name, col in pairs:
        out[f"{name}_mean"], out[f"{name}_{sd}"] = g[col].mean(), g[col].std(ddof=1)
    return out


def scale_note(params: dict, detail: str) -> str:
    """The note every paper table starts with: 'Scale <scale>: <detail>; mean ± sd over N seeds.'
    (`params` are the table step's params, which carry `scale` and `seeds`)."""
    return f"Scale {params['scale']}: {detail}; mean ± sd over {len(params['seeds'])} seeds."


def deviation_notes(params: dict) -> list[str]:
    """The notes that list a table's deviations from its spec, generated from the step's params
    (`deviations`, computed from the running config by Experiment.deviations): one note per
    deviation, or one that says there is none."""
    if "deviations" not in params:
        raise AttnlabError("table step params carry no 'deviations' (attnlab.experiment.Experiment.common_params)")
    return [f"Deviations from the spec: {d}." for d in params["deviations"] or ["none"]]


def write_paper_table(args, display: pd.DataFrame, *, title: str, numeric: pd.DataFrame | None = None,
                      scale: str | None = None, notes: list[str] = ()) -> None:
    """A table step's paper table: the four files of its outputs md, csv, tex and html
    (write_table), stamped with the provenance of its evaluate step's claims file (input
    `claims`), the shared scale note first when `scale` (its detail) is given, then `notes`, then
    the deviations from the spec (deviation_notes)."""
    claims = args.input("claims")
    doc = read_json(claims)
    if not isinstance(doc, dict) or "provenance" not in doc:
        raise AttnlabError(f"{claims}: not a claims file (no provenance)")
    lead = [scale_note(args.params, scale)] if scale is not None else []
    write_table(table_paths(args), display, title=title, provenance=doc["provenance"], numeric=numeric,
                notes=[*lead, *notes, *competence_notes(doc.get("claims", [])), *deviation_notes(args.params)])


def competence_notes(claims: list[dict]) -> list[str]:
    """One note per distinct competence gate among an experiment's claim rows: the gate and each
    seed's value, marking the seeds below it (whose claims are INCONCLUSIVE, under-trained)."""
    from attnlab.claims import Competence

    notes, seen = [], set()
    for row in claims:
        if not isinstance(row.get("competence"), dict):
            continue
        c = Competence.from_dict(row["competence"])
        key = (c.gate, tuple(sorted(c.values.items(), key=lambda kv: kv[0])))
        if key in seen:
            continue
        seen.add(key)
        per_seed = ", ".join(
            f"seed {s}: {'not measured' if c.value(s) is None else f'{c.value(s):.3g}'}"
            f"{'' if c.met(s) else f' ({c.label})'}" for s in sorted(c.values))
        notes.append(f"Competence gate (fixed before the run; a seed below it is INCONCLUSIVE): {c.gate}. "
                     f"{per_seed}.")
    return notes

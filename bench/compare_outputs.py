"""Compare the tables and claims of two results directories, provenance aside.

    python bench/compare_outputs.py BASE_DIR NEW_DIR [--only ocr moh ...] [--missing-ok]

BASE_DIR and NEW_DIR are results/ directories (or copies of them). Compared: every paper table
(tables/<id>.{md,csv,tex,html}), every claims file (claims/<id>.json) and the gathered
claims.md, as found under BASE_DIR. Provenance that changes from run to run is ignored: the git
commit, config hash, wall time, package, Python and machine versions, and dates. Everything else
(every number, verdict and word) must be identical.

Prints one line per file (`same`, `DIFFERENT`, `missing`) with the first differing lines, and
exits 1 when any file differs or is missing (missing files are skipped with --missing-ok), 0
otherwise. With --only, only the files of those experiments are compared.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

# Provenance keys whose values legitimately change between two runs of the same code and config.
VOLATILE = ("git_commit", "config_hash", "wall_time_s", "packages", "python", "machine", "date", "created",
            "generated")
# `key: value` as it stands in a Markdown bullet, a CSV '#' comment, a LaTeX '%' comment or an
# HTML <li>: the value runs to the end of the line or to the next tag.
_VOLATILE_LINE = re.compile(r"\b(" + "|".join(VOLATILE) + r"): [^<\n]*")
# claims.md's provenance lines: "- <id>: commit <sha>, config <hash>, ..., wall time <s> s"
_CLAIMS_PROVENANCE = re.compile(r"\b(commit) \w+|\b(config) [0-9a-f]+|\b(wall time) [\d.]+ s")
PATTERNS = ("tables/*.md", "tables/*.csv", "tables/*.tex", "tables/*.html", "claims/*.json", "claims.md")


def normalise_text(text: str) -> list[str]:
    """The lines of a table file with the volatile provenance values blanked."""
    lines = [_VOLATILE_LINE.sub(r"\1: *", line) for line in text.splitlines()]
    return [_CLAIMS_PROVENANCE.sub(lambda m: next(g for g in m.groups() if g) + " *", line) for line in lines]


def _strip(obj):
    if isinstance(obj, dict):
        return {k: ("*" if k in VOLATILE else _strip(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def normalise_json(text: str) -> list[str]:
    """A claims file as sorted, indented JSON lines with the volatile provenance values blanked."""
    return json.dumps(_strip(json.loads(text)), indent=1, sort_keys=True, ensure_ascii=False).splitlines()


def normalise(path: Path) -> list[str]:
    text = path.read_text()
    return normalise_json(text) if path.suffix == ".json" else normalise_text(text)


def experiment_of(rel: Path) -> str | None:
    """The experiment id a file belongs to (tables/moh.md, claims/moh.json -> 'moh'); None for
    claims.md, which gathers all of them."""
    return None if rel.as_posix() == "claims.md" else rel.stem


def compare_file(base: Path, new: Path, context: int = 3) -> list[str]:
    """The unified diff of the normalised files (empty when they are the same)."""
    a, b = normalise(base), normalise(new)
    if a == b:
        return []
    return list(difflib.unified_diff(a, b, str(base), str(new), n=context, lineterm=""))


def compare(base_dir: Path, new_dir: Path, only: list[str] | None = None,
            missing_ok: bool = False, max_lines: int = 40, out=sys.stdout) -> int:
    """Compare every table and claims file of base_dir with new_dir; the number of problems."""
    files = sorted({p.relative_to(base_dir) for pat in PATTERNS for p in base_dir.glob(pat)})
    if only:
        files = [f for f in files if experiment_of(f) in only]
    if not files:
        print(f"nothing to compare under {base_dir}" + (f" for {', '.join(only)}" if only else ""), file=out)
        return 1
    problems = 0
    for rel in files:
        new = new_dir / rel
        if not new.is_file():
            print(f"missing    {rel}", file=out)
            problems += not missing_ok
            continue
        diff = compare_file(base_dir / rel, new)
        if not diff:
            print(f"same       {rel}", file=out)
            continue
        problems += 1
        print(f"DIFFERENT  {rel}", file=out)
        for line in diff[:max_lines]:
            print(f"    {line}", file=out)
        if len(diff) > max_lines:
            print(f"    ... ({len(diff) - max_lines} more diff lines)", file=out)
    print(f"{len(files)} files compared, {problems} problem(s)", file=out)
    return problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("base_dir", type=Path)
    p.add_argument("new_dir", type=Path)
    p.add_argument("--only", nargs="+", metavar="EXPERIMENT", help="compare only these experiments' files")
    p.add_argument("--missing-ok", action="store_true", help="skip files NEW_DIR does not have")
    args = p.parse_args(argv)
    for d in (args.base_dir, args.new_dir):
        if not d.is_dir():
            p.error(f"not a directory: {d}")
    return 1 if compare(args.base_dir, args.new_dir, args.only, args.missing_ok) else 0


if __name__ == "__main__":
    sys.exit(main())

"""bench/compare_outputs.py: tables and claims compared, provenance aside."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "compare_outputs.py"

MD = """# Toy

| variant | acc |
|---|---|
| mha | 0.50 ± 0.25 |

- Scale smoke: x; mean ± sd over 2 seeds.

## Provenance

- git_commit: {commit}
- config_hash: {hash}
- scale: smoke
- wall_time_s: {wall}
- packages: torch=={torch}
"""
HTML = ("<h2>Toy</h2>\n<ul><li>note</li></ul>\n<details><summary>provenance</summary><ul><li>git_commit: {commit}</li>"
        "<li>scale: smoke</li><li>wall_time_s: {wall}</li></ul></details>\n")


def write(d: Path, acc="0.50", commit="abc", wall="1.0", verdict="PASS", torch="2.13"):
    (d / "tables").mkdir(parents=True)
    (d / "claims").mkdir()
    fill = dict(commit=commit, hash=commit[:2], wall=wall, torch=torch)
    (d / "tables" / "toy.md").write_text(MD.format(**fill).replace("0.50", acc))
    (d / "tables" / "toy.csv").write_text(f"# git_commit: {commit}\n# wall_time_s: {wall}\nacc_mean\n{acc}\n")
    (d / "tables" / "toy.tex").write_text(f"% git_commit: {commit}\n% python: 3.11\n\\begin{{table}}{acc}\n")
    (d / "tables" / "toy.html").write_text(HTML.format(**fill))
    claims = {"experiment": "toy", "claims": [{"claim": "c", "verdict": verdict, "measured": acc}],
              "provenance": {"git_commit": commit, "config_hash": "h", "wall_time_s": float(wall), "seeds": [0, 1],
                             "packages": {"torch": torch}, "python": "3.11", "machine": "x86_64 Linux"}}
    (d / "claims" / "toy.json").write_text(json.dumps(claims))


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_provenance_only_differences_are_the_same(tmp_path):
    write(tmp_path / "a")
    write(tmp_path / "b", commit="def+dirty", wall="9.5", torch="2.14")
    proc = run(tmp_path / "a", tmp_path / "b")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count("same ") == 5 and "5 files compared, 0 problem(s)" in proc.stdout


def test_a_changed_number_or_verdict_is_reported(tmp_path):
    write(tmp_path / "a")
    write(tmp_path / "b", acc="0.51", verdict="FAIL")
    proc = run(tmp_path / "a", tmp_path / "b")
    assert proc.returncode == 1
    different = [ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("DIFFERENT")]
    assert different == ["claims/toy.json", "tables/toy.csv", "tables/toy.md", "tables/toy.tex"]
    lines = [ln.strip() for ln in proc.stdout.splitlines()]
    assert any(ln.startswith("-") and '"verdict": "PASS"' in ln for ln in lines)
    assert "+| mha | 0.51 ± 0.25 |" in lines


def test_missing_files_and_only(tmp_path):
    write(tmp_path / "a")
    (tmp_path / "b").mkdir()
    assert run(tmp_path / "a", tmp_path / "b").returncode == 1
    assert run(tmp_path / "a", tmp_path / "b", "--missing-ok").returncode == 0
    proc = run(tmp_path / "a", tmp_path / "b", "--only", "other")
    assert proc.returncode == 1 and "nothing to compare" in proc.stdout

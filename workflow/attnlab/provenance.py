"""Provenance stamped into every table and claims file."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

PACKAGES = ("torch", "transformers", "diffusers", "datasets", "pandas", "pyarrow", "numpy", "snakemake")
REPO = Path(__file__).resolve().parents[2]


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if out.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git not available)"


def package_versions(names=PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def provenance(*, config_hash: str, seeds, wall_time_s: float, scale: str, extra: dict | None = None) -> dict:
    return {
        "git_commit": git_commit(),
        "config_hash": config_hash,
        "scale": scale,
        "seeds": list(seeds),
        "wall_time_s": round(float(wall_time_s), 1),
        "packages": package_versions(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.system()}",
        **(extra or {}),
    }


def provenance_lines(prov: dict) -> list[str]:
    """Human-readable `key: value` lines (package versions folded into one line)."""
    lines = []
    for k, v in prov.items():
        if k == "packages":
            v = ", ".join(f"{n}=={ver}" for n, ver in v.items())
        elif isinstance(v, list):
            v = ", ".join(map(str, v))
        lines.append(f"{k}: {v}")
    return lines

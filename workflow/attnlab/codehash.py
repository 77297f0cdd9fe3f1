"""Hash the source of the attnlab modules a step uses, so editing one reruns exactly its jobs.

Snakemake only notices edits to the file a rule names. Each rule gets a param
`code_version("attnlab.ocr.train")`: a hash over that module and every attnlab module it
imports, transitively (found statically, without importing anything).

Attention mechanisms are imported by name at run time (`attnlab.attention.MECHANISMS`), so no
static closure holds them: a job whose models use some mechanisms names them,
`code_version("attnlab.train.lm", mechanisms=["moh", "softmax"])`, and editing `attention/moh.py`
changes the version of those jobs only.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

from attnlab.attention import mechanism_modules  # the registry only: no torch

PACKAGE = "attnlab"
ROOT = Path(__file__).resolve().parent  # .../workflow/attnlab


def module_path(name: str) -> Path | None:
    return _module_path(ROOT, name)


@functools.lru_cache(maxsize=None)  # one Snakemake parse asks ~40,000 times for ~150 modules
def _module_path(root: Path, name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _imports(name: str, path: Path) -> frozenset[str]:
    """attnlab modules imported by one module (absolute and relative imports)."""
    return _parsed_imports(name, path, path.read_text())


@functools.lru_cache(maxsize=None)  # keyed on the source: a module is parsed once per process, not once per closure
def _parsed_imports(name: str, path: Path, source: str) -> frozenset[str]:
    tree = ast.parse(source, filename=str(path))
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)  # `from pkg import module`
    result = set()
    for mod in found:
        if not mod.startswith(PACKAGE):
            continue
        # every enclosing package's __init__ runs on import, too
        parts = mod.split(".")
        for i in range(1, len(parts) + 1):
            sub = ".".join(parts[:i])
            if module_path(sub) is not None:
                result.add(sub)
    return frozenset(result)


def module_closure(*names: str) -> list[str]:
    """The named modules plus every attnlab module they import, transitively, sorted."""
    seen: set[str] = set()
    stack = list(names)
    for name in names:
        parts = name.split(".")
        stack += [".".join(parts[:i]) for i in range(1, len(parts))]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        path = module_path(name)
        if path is None:
            raise ValueError(f"no attnlab module named {name!r}")
        seen.add(name)
        stack.extend(_imports(name, path) - seen)
    return sorted(seen)


def code_version(*names: str, mechanisms=()) -> str:
    """A short hash of the source of the modules `names`, of the attention mechanisms named in
    `mechanisms` (keys of `attnlab.attention.MECHANISMS`) and of every attnlab module they use."""
    return _version(tuple(sorted({*names, *mechanism_modules(mechanisms)})))


@functools.lru_cache(maxsize=None)
def _version(names: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in module_closure(*names):
        h.update(name.encode() + b"\0" + module_path(name).read_bytes() + b"\0")
    return h.hexdigest()[:16]

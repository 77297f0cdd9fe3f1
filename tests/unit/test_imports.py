"""The attnlab package has a clean import structure, read statically (ast; no module is imported):
no import cycle among module-level imports, the `heads` library imports no experiment, and no
evaluate step imports a train step."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "workflow"


def module_names(root: Path, package: str = "attnlab") -> dict[str, Path]:
    """Dotted name -> file of every module of `package` under `root` (a package is its __init__)."""
    out = {}
    for f in sorted((root / package).rglob("*.py")):
        parts = f.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _resolve(name: str, current: str, is_package: bool, level: int) -> str:
    if not level:
        return name
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def module_imports(tree: ast.Module, current: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package's modules that `tree` imports at module level: statements in the module body,
    including those under if/try/with at that level, but not inside functions or classes, and
    not under `if TYPE_CHECKING:`. `from a import b` names module a.b when that is a module, else a."""
    found = set()

    def visit(stmts):
        for node in stmts:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        found.add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node.module or "", current, is_package, node.level)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in modules:
                        found.add(sub)
                    elif base in modules:
                        found.add(base)
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list):
                    visit(inner)

    visit(tree.body)
    found.discard(current)
    return found


def import_graph(root: Path, package: str = "attnlab") -> dict[str, set[str]]:
    files = module_names(root, package)
    names = set(files)
    return {m: module_imports(ast.parse(f.read_text(), str(f)), m, f.name == "__init__.py", names)
            for m, f in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def experiment_packages(root: Path) -> set[str]:
    """attnlab.<id> for every experiment: a package with a plan.py."""
    return {f"attnlab.{p.parent.name}" for p in (root / "attnlab").glob("*/plan.py")}


@pytest.fixture(scope="module")
def graph():
    return import_graph(ROOT)


# ---------------------------------------------------------------- the checker itself, on hand-made packages


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        f = tmp_path / "pkg" / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return tmp_path


def test_checker_finds_a_cycle_through_from_imports_and_relative_imports(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg.b import thing\n",
        "b.py": "from . import c\n",
        "c.py": "import pkg.a\n",
        "d.py": "from pkg import a\n",
    })
    g = import_graph(root, "pkg")
    assert g["pkg.a"] == {"pkg.b"} and g["pkg.b"] == {"pkg.c"} and g["pkg.d"] == {"pkg.a"}
    assert cycles(g) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_checker_ignores_function_local_and_type_checking_imports(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg import b\n",
        "b.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
                 "def f():\n    from pkg.a import x\n    return x\n"),
        "c.py": "try:\n    from pkg.d import y\nexcept ImportError:\n    y = None\n",
        "d.py": "from .c import y\n",
    })
    g = import_graph(root, "pkg")
    assert g["pkg.b"] == set()
    assert cycles(g) == [["pkg.c", "pkg.d"]]  # imports under try at module level count


# ---------------------------------------------------------------- attnlab


def test_attnlab_has_no_import_cycle(graph):
    assert cycles(graph) == []


def test_heads_imports_no_experiment(graph):
    experiments = experiment_packages(ROOT)
    assert "attnlab.attention_sinks" in experiments and "attnlab.heads" not in experiments
    bad = {m: sorted(d for d in deps if ".".join(d.split(".")[:2]) in experiments)
           for m, deps in graph.items() if m.startswith("attnlab.heads")}
    assert {m: d for m, d in bad.items() if d} == {}




def test_no_evaluate_step_imports_a_train_step(graph):
    """A train step is a module named `train` (attnlab.<exp>.train, attnlab.diffusion.train); the
    training library `attnlab.train` is a package and may be imported."""
    files = module_names(ROOT)
    steps = {m for m, f in files.items() if m.endswith(".train") and f.name != "__init__.py"}
    assert "attnlab.diffusion.train" in steps and "attnlab.train" not in steps
    bad = {m: sorted(deps & steps) for m, deps in graph.items() if m.endswith(".evaluate") and deps & steps}
    assert bad == {}

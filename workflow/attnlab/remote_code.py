"""Self-describing run directories: the model's code is saved beside its weights.

`save_pretrained` of every attnlab model (through `SelfDescribingModel`) also writes the source of
the attnlab modules the model uses into the run directory and names its classes in the `auto_map`
of `config.json`, so that on a machine without attnlab

    AutoModelForCausalLM.from_pretrained(run_dir, trust_remote_code=True)   # AutoModel for OCR/ICL

loads it. Inside the project `import attnlab` registers the classes instead (attnlab.models,
attnlab.autoregister), and the Auto classes load run directories without `trust_remote_code`.

transformers' dynamic-module loader copies only the file `auto_map` names and the files it imports
as `from .<file> import ...`, all from the one directory. So each module `attnlab.a.b` is written
as the flat file `attnlab_a_b.py` with its attnlab imports rewritten into that form, and module
names held as strings (the lazy attention registry's) point at the flat files. Which modules: the
static import closure of the modules that define the classes the model is actually built from
(its config, itself and every submodule, with their base classes), so a mechanism that the
registry imports by name is included when the model uses it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

# the Auto class `AutoConfig.from_pretrained` resolves in `auto_map`
CONFIG_AUTO_CLASS = "AutoConfig"
# transformers copies beside a module only the files named in lines of this form
_RELATIVE_IMPORT = re.compile(r"^\s*from\s+\.(\S+)\s+import", re.MULTILINE)
PACKAGE = "attnlab"
ROOT = Path(__file__).resolve().parent  # .../workflow/attnlab


class SelfDescribingModel:
    """Mixin for attnlab `PreTrainedModel`s (list it before `PreTrainedModel`): `save_pretrained`
    also writes the model's code and the `auto_map` naming it (see the module docstring).

    `auto_class` names the transformers Auto class that loads the model. A model loaded from a
    run directory's own code (with `trust_remote_code`) is saved by transformers' usual mechanism,
    which copies those files again."""

    auto_class = "AutoModel"

    def save_pretrained(self, save_directory, *args, **kwargs):
        if kwargs.get("is_main_process", True) and _is_attnlab(type(self).__module__):
            self.config.auto_map = write_model_code(self, save_directory)
        return super().save_pretrained(save_directory, *args, **kwargs)


class SelfDescribingCausalLM(SelfDescribingModel):
    """`SelfDescribingModel` for a causal LM (loaded with `AutoModelForCausalLM`)."""

    auto_class = "AutoModelForCausalLM"


def write_model_code(model, directory) -> dict[str, str]:
    """Write the flat source files `model` needs into `directory`; returns its `auto_map`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config_cls, model_cls = type(model.config), type(model)
    config_modules = closure(defining_modules([config_cls]))
    model_modules = closure(defining_modules([config_cls, *(type(m) for m in model.modules())]))
    copied = set(model_modules)
    if len({flat_name(m) for m in copied}) < len(copied):
        raise ValueError(f"two attnlab modules share a flat file name: {sorted(copied)}")
    for name in model_modules:
        (directory / f"{flat_name(name)}.py").write_text(flatten_source(name, copied))
    # the entry files must lead transformers to every file they need (a module bound by
    # `from . import x` or imported by name at run time is invisible to its pattern)
    _add_copy_markers(directory, config_cls.__module__, config_modules)
    _add_copy_markers(directory, model_cls.__module__, model_modules)
    return {CONFIG_AUTO_CLASS: f"{flat_name(config_cls.__module__)}.{config_cls.__name__}",
            model.auto_class: f"{flat_name(model_cls.__module__)}.{model_cls.__name__}"}


def flat_name(module: str) -> str:
    """`attnlab.lm.modeling` -> `attnlab_lm_modeling`: the module's file name in a run directory."""
    return module.replace(".", "_")


def _is_attnlab(module: str) -> bool:
    return module.split(".")[0] == PACKAGE


def defining_modules(classes) -> list[str]:
    """The attnlab modules that define `classes` and their base classes."""
    return sorted({base.__module__ for cls in classes for base in cls.__mro__ if _is_attnlab(base.__module__)})


# --- which attnlab modules a module needs ------------------------------------------------------
# Unlike attnlab.codehash's closure, enclosing packages count only when something is imported from
# them (a flat file runs no parent `__init__`). This module is itself copied into every run
# directory (the mixin is a base class), so it imports no other attnlab module: hence its own
# `module_path`.

def module_path(name: str) -> Path | None:
    """The source file of attnlab module `name`, or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = ROOT.joinpath(*parts[1:])
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _absolute(module: str | None, level: int, name: str) -> str:
    """The absolute module named by `from <level dots><module> import ...` inside module `name`."""
    if not level:
        return module or ""
    is_pkg = module_path(name).name == "__init__.py"
    base = name.split(".")
    base = base[: len(base) - level + (1 if is_pkg else 0)]
    return ".".join(base + ([module] if module else []))


def _attnlab_imports(name: str, tree: ast.AST):
    """Each import statement of `name` that reaches attnlab, as (node, [(module, bound name,
    imported attribute or None)]): attribute None means the statement binds the module itself."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, name)
            if not _is_attnlab(base):
                continue
            targets = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if module_path(sub) is not None:  # `from attnlab import hooks`: a module
                    targets.append((sub, alias.asname or alias.name, None))
                else:
                    targets.append((base, alias.asname or alias.name, alias.name))
            yield node, targets
        elif isinstance(node, ast.Import):
            targets = [(a.name, a.asname, None) for a in node.names if _is_attnlab(a.name)]
            if targets:
                yield node, targets


def dependencies(name: str) -> set[str]:
    """The attnlab modules `name` imports (anywhere in the file; enclosing packages only when
    something is imported from them)."""
    path = module_path(name)
    if path is None:
        raise ValueError(f"no attnlab module named {name!r}")
    tree = ast.parse(path.read_text(), filename=str(path))
    return {module for _, targets in _attnlab_imports(name, tree) for module, _, _ in targets}


def closure(names) -> list[str]:
    """`names` and every attnlab module they import, transitively, sorted."""
    seen, stack = set(), list(names)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(dependencies(name) - seen)
    return sorted(seen)


# --- rewriting a module into its flat file -----------------------------------------------------

def flatten_source(name: str, copied: set[str], source: str | None = None) -> str:
    """The source of module `name` (or `source`, read as if it were that module's) with every attnlab import rewritten relative to its flat file
    (`from attnlab.a import B` -> `from .attnlab_a import B`; `from attnlab import hooks` ->
    `from . import attnlab_hooks as hooks`), string constants naming a module in `copied` made
    relative (`"attnlab.attention.moh"` -> `".attnlab_attention_moh"`) and `importlib.import_module`
    resolving relative names against the file's package. Line numbers are kept."""
    path = module_path(name)
    source = path.read_text() if source is None else source
    tree = ast.parse(source, filename=str(path))
    lines = source.encode().splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    offset = lambda line, col: starts[line - 1] + col  # noqa: E731  (ast columns count UTF-8 bytes)
    edits = []  # (start byte, end byte, replacement)

    for node, targets in _attnlab_imports(name, tree):
        start, end = offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)
        if isinstance(node, ast.ImportFrom) and all(attr is not None for _, _, attr in targets):
            # `from attnlab.x import A, B` (or `from .x import ...`): swap the module only
            text = source.encode()[start:end].decode()
            match = re.match(r"from\s+(\.*[\w.]*)", text)
            edits.append((start + len(text[: match.start(1)].encode()),
                           start + len(text[: match.end(1)].encode()), "." + flat_name(targets[0][0])))
            continue
        parts = []
        if isinstance(node, ast.Import):  # other modules of the statement stay as they are
            parts += [f"import {a.name}" + (f" as {a.asname}" if a.asname else "")
                      for a in node.names if not _is_attnlab(a.name)]
        attrs = [attr if bound == attr else f"{attr} as {bound}" for _, bound, attr in targets if attr is not None]
        if attrs:
            base = next(module for module, _, attr in targets if attr is not None)
            parts.append(f"from .{flat_name(base)} import {', '.join(attrs)}")
        for module, bound, attr in targets:
            if attr is None and bound is None:
                raise ValueError(f"{path}: write `import {module} as <name>` or `from ... import ...`: "
                                 "a bare `import attnlab...` cannot be rewritten for a run directory")
            if attr is None:
                parts.append(f"from . import {flat_name(module)} as {bound}")
        edits.append((start, end, "; ".join(parts) + "\n" * (node.end_lineno - node.lineno)))

    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value \
                and node.value in copied:
            edits.append((offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset),
                          repr("." + flat_name(node.value))))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and isinstance(node.func.value, ast.Name)
              and node.func.value.id == "importlib" and len(node.args) == 1 and not node.keywords):
            end = offset(node.end_lineno, node.end_col_offset) - 1  # the closing parenthesis
            edits.append((end, end, ", __package__"))

    data = source.encode()
    for start, end, text in sorted(edits, key=lambda e: e[0], reverse=True):
        data = data[:start] + text.encode() + data[end:]
    text = data.decode()
    return text + ("" if text.endswith("\n") else "\n") + (
        f"\n# {name}, rewritten by attnlab.remote_code to load with trust_remote_code=True\n")


def _reachable(directory: Path, entry: str) -> set[str]:
    """The flat files transformers copies along with `entry` (its relative-import pattern, applied
    transitively)."""
    seen, stack = set(), [entry]
    while stack:
        flat = stack.pop()
        if flat in seen:
            continue
        seen.add(flat)
        stack.extend(_RELATIVE_IMPORT.findall((directory / f"{flat}.py").read_text()))
    return seen


def _add_copy_markers(directory: Path, entry: str, modules: list[str]) -> None:
    entry_file = directory / f"{flat_name(entry)}.py"
    missing = sorted({flat_name(m) for m in modules} - _reachable(directory, flat_name(entry)))
    if missing:
        entry_file.write_text(entry_file.read_text() + (
            "\n# Files this module needs that transformers would not copy beside it (imported as\n"
            "# modules or by name at run time): importing from each names it. (attnlab.remote_code)\n"
            + "".join(f"from .{m} import __name__ as _{m}_name  # noqa: E402\n" for m in missing)))

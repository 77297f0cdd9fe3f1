"""`import attnlab` is enough to load run directories with the transformers Auto classes.

The model classes register with the Auto classes in `attnlab.models`, which imports torch and
transformers; `import attnlab` must stay cheap (the Snakefile imports it at parse time). So
`import attnlab` only installs a finder that imports `attnlab.models` right after transformers'
AutoModel classes are first imported. Standard library only: every attnlab process imports this.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

PACKAGE = "attnlab"

# transformers imports this module when an AutoModel* class is first used
_AUTO_MODELS = "transformers.models.auto.modeling_auto"


def register_models_with_transformers() -> None:
    """Make `import attnlab` enough to load run directories with the Auto classes, without
    importing torch at `import attnlab` (the Snakefile imports attnlab at parse time):
    `attnlab.models` is imported right after transformers' AutoModel classes are, or now if they
    already are. (The model modules themselves must not import the Auto classes.)"""
    if __name__.split(".")[0] != PACKAGE:  # a run directory's copy of this module registers nothing
        return
    if _AUTO_MODELS in sys.modules:
        importlib.import_module(f"{PACKAGE}.models")
    elif not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when `_AUTO_MODELS` is about to be imported it steps aside and wraps
    that module's loader, so that `attnlab.models` is imported as soon as the module has run."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _AUTO_MODELS:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                importlib.import_module(f"{PACKAGE}.models")

            spec.loader.exec_module = exec_module
        return spec

"""Run directories and checkpoints: validated before anything is loaded; never unpickled."""

from __future__ import annotations

from pathlib import Path

from attnlab import AttnlabError


def check_safetensors(path) -> Path:
    """Fail clearly unless `path` is a readable safetensors file (never unpickle a checkpoint)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise AttnlabError(f"missing checkpoint: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            f.keys()
    except (SafetensorError, OSError, ValueError) as e:
        raise AttnlabError(f"not a safetensors checkpoint (refusing to load it): {path}: {e}") from None
    return path


def check_run_dir(path, weights: str = "model.safetensors") -> Path:
    """A run directory must hold config.json and safetensors weights."""
    path = Path(path)
    if not path.is_dir():
        raise AttnlabError(f"missing model directory: {path}")
    if not (path / "config.json").is_file():
        raise AttnlabError(f"not a model directory (no config.json): {path}")
    check_safetensors(path / weights)
    return path

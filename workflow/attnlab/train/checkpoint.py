"""Checkpoints: weights, optimizer state and RNG state in safetensors, everything else in JSON.

Nothing is ever unpickled: a checkpoint is `model.safetensors` + `optimizer.safetensors` + `state.json`
in a directory `step{N:08d}` that appears under its final name only once complete (written to a
temporary directory, then renamed).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

STATE = "state.json"


def _opt_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, state in sd["state"].items():
        for key, val in state.items():
            if torch.is_tensor(val):
                tensors[f"state.{idx}.{key}"] = val.detach().contiguous()
            else:
                scalars[f"{idx}.{key}"] = val
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _opt_from_flat(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for name, val in tensors.items():
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = val
    for name, val in meta["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = val
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})


def _rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(keys.astype(np.int64))
    py = random.getstate()
    return tensors, {"numpy": [kind, int(pos), int(has_gauss), float(gauss)], "python": [py[0], list(py[1]), py[2]]}


def _set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    v, state, g = meta["python"]
    random.setstate((v, tuple(state), g))


def save_checkpoint(root: str | os.PathLike, step: int, model: torch.nn.Module, opt: torch.optim.Optimizer,
                    extra: dict, keep: int = 2) -> Path:
    """Write `root/step{step:08d}/` atomically; keep only the newest `keep` checkpoints."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        weights = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        # tied weights share storage: safetensors refuses aliases, and load_state_dict re-ties them
        seen, unique = set(), {}
        for k, v in weights.items():
            if v.data_ptr() not in seen:
                seen.add(v.data_ptr())
                unique[k] = v
        save_file(unique, tmp / "model.safetensors")
        opt_tensors, opt_meta = _opt_to_flat(opt)
        rng_tensors, rng_meta = _rng_state()
        save_file({**opt_tensors, **rng_tensors}, tmp / "optimizer.safetensors")
        (tmp / STATE).write_text(json.dumps({"step": step, "optimizer": opt_meta, "rng": rng_meta,
                                             "scheduler": {"name": "warmup_cosine", "step": step}, **extra}))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in sorted(p for p in root.glob("step*") if (p / STATE).is_file())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    root = Path(root)
    done = sorted(p for p in root.glob("step*") if (p / STATE).is_file()) if root.is_dir() else []
    return done[-1] if done else None


def checkpoint_identity(path: str | os.PathLike) -> dict:
    """What run a checkpoint belongs to: its `run_key` and trainer settings."""
    state = json.loads((Path(path) / STATE).read_text())
    return {"run_key": state.get("run_key"), "settings": state.get("settings")}


def load_checkpoint(path: str | os.PathLike, model: torch.nn.Module, opt: torch.optim.Optimizer,
                    device: torch.device | str = "cpu") -> dict:
    """Restore weights, optimizer and RNG state in place; return the JSON state (step, extras)."""
    path = Path(path)
    state = json.loads((path / STATE).read_text())
    weights = load_file(path / "model.safetensors", device=str(device))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    current = model.state_dict()
    stored = {current[k].data_ptr() for k in weights if k in current}
    tied = {k for k in missing if current[k].data_ptr() in stored}  # aliases of a stored tensor
    if unexpected or set(missing) - tied:
        raise RuntimeError(f"checkpoint {path} does not fit the model: missing {missing}, unexpected {unexpected}")
    tensors = load_file(path / "optimizer.safetensors", device="cpu")
    _opt_from_flat(opt, {k: v.to(device) for k, v in tensors.items() if k.startswith("state.")}, state["optimizer"])
    _set_rng_state({k: v for k, v in tensors.items() if k.startswith("rng.")}, state["rng"])
    return state

"""TransformerLens-style hook points: every activation worth analysing has a stable name.

    _, cache = model.run_with_cache(input_ids, names=["blocks.0.attn.hook_pattern"])
    cache["blocks.0.attn.hook_pattern"]          # (batch, head, query, key)
    model.run_with_hooks(input_ids, fwd_hooks=[("blocks.1.attn.hook_z", ablate_heads([3]))])

A HookPoint is an identity module; hooks are ordinary forward hooks `fn(tensor, hook) -> tensor | None`
(return a tensor to replace the activation). Names come from `named_modules()`, so they follow the
module tree: `blocks.{i}.attn.hook_pattern`, `blocks.{i}.attn.hook_z`, `blocks.{i}.hook_resid_post`, ...
Analysis code asks for names and never reaches into module internals.
This module depends on torch only: attention mechanisms place hook points, models name and run
them, and neither package has to import the other for it.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

HookFn = Callable[[torch.Tensor, "HookPoint"], "torch.Tensor | None"]


class HookPoint(nn.Module):
    """Identity on the forward pass; a named place to read or patch an activation."""

    def __init__(self):
        super().__init__()
        self.name: str | None = None  # filled in by `name_hook_points`

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @property
    def active(self) -> bool:
        """True when someone listens: mechanisms then materialise what a fused kernel would skip."""
        return bool(self._forward_hooks)

    def add_hook(self, fn: HookFn) -> torch.utils.hooks.RemovableHandle:
        return self.register_forward_hook(lambda module, args, out: fn(out, module))


def name_hook_points(model: nn.Module) -> dict[str, HookPoint]:
    points = {}
    for name, module in model.named_modules():
        if isinstance(module, HookPoint):
            module.name = name
            points[name] = module
    return points


def _select(points: dict[str, HookPoint], names) -> list[str]:
    if names is None:
        return list(points)
    if callable(names):
        return [n for n in points if names(n)]
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in points]
    if unknown:
        raise KeyError(f"unknown hook point(s) {unknown}; e.g. {list(points)[:4]}")
    return list(names)


@contextlib.contextmanager
def hooks(model: nn.Module, fwd_hooks: Iterable[tuple[str | Callable[[str], bool], HookFn]]) -> Iterator[None]:
    """Attach `(name or name-filter, fn)` hooks for the duration of the block."""
    points = name_hook_points(model)
    handles = []
    try:
        for name, fn in fwd_hooks:
            for n in _select(points, name if callable(name) else [name]):
                handles.append(points[n].add_hook(fn))
        yield
    finally:
        for h in handles:
            h.remove()


def run_with_hooks(model, input_ids, fwd_hooks=(), **kwargs):
    with hooks(model, fwd_hooks):
        return model(input_ids, **kwargs)


def run_with_cache(model, input_ids, names=None, detach: bool = True, **kwargs):
    """Run the model and return `(output, cache)`, cache mapping hook names to activations.
    `names`: None (every hook point), a list of names, or a predicate over names."""
    points = name_hook_points(model)
    cache: dict[str, torch.Tensor] = {}

    def store(x, hook):
        cache[hook.name] = x.detach() if detach else x

    with hooks(model, [(n, store) for n in _select(points, names)]):
        out = model(input_ids, **kwargs)
    return out, cache


def ablate_heads(heads: Iterable[int], value: float = 0.0) -> HookFn:
    """A hook for `hook_z` (batch, pos, head, d_head) that sets the given heads' outputs to `value`
    (zero ablation; the head then contributes nothing through the output projection)."""
    heads = list(heads)

    def hook(z, _hook):
        z = z.clone()
        z[:, :, heads] = value
        return z

    return hook


def mean_ablate_heads(heads: Iterable[int]) -> HookFn:
    """Replace the heads' outputs by their mean over batch and positions."""
    heads = list(heads)

    def hook(z, _hook):
        z = z.clone()
        z[:, :, heads] = z[:, :, heads].mean(dim=(0, 1), keepdim=True)
        return z

    return hook

"""Attention mechanisms, one module each, behind the interface of `attnlab.attention.base.Attention`.

A model config names its mechanism (`attention="moh"`) and options (`attention_options={...}`);
`build_attention` looks it up here. Adding a mechanism = a new file + one entry below.

The registry maps names to module paths and imports a mechanism only when a model uses it, so the
static import closure of the model code holds no mechanism file: `attnlab.codehash` adds the files
of the mechanisms a job uses (`mechanism_modules`). This package's `__init__` imports no torch,
so Snakemake can read the registry at parse time.
"""

from __future__ import annotations

import importlib

# name -> (module, class)
MECHANISMS = {
    "softmax": ("attnlab.attention.softmax", "SoftmaxAttention"),
    "sigmoid": ("attnlab.attention.sigmoid", "SigmoidAttention"),
    "sliding_window": ("attnlab.attention.sliding_window", "SlidingWindowAttention"),
    "moh": ("attnlab.attention.moh", "MoHAttention"),
    "meta": ("attnlab.attention.meta", "MetaAttention"),
    "dynamic_mask": ("attnlab.attention.dynamic_mask", "DynamicMaskAttention"),
    "pine": ("attnlab.attention.pine", "PineAttention"),
    "prefix_lm": ("attnlab.attention.prefix_lm", "PrefixLMAttention"),
    "performer": ("attnlab.attention.performer", "PerformerAttention"),
    "abc": ("attnlab.attention.abc", "ABCAttention"),
    "superlinear": ("attnlab.attention.superlinear", "SuperlinearAttention"),
    "grassmann": ("attnlab.attention.grassmann", "GrassmannMixing"),
    "gaam": ("attnlab.attention.gaam", "GAAMAttention"),
    "rcmha": ("attnlab.attention.rcmha", "RelConvAttention"),
    "lightnet": ("attnlab.attention.lightnet", "LightNetAttention"),
    "decay": ("attnlab.attention.decay", "DecayAttention"),
}


def mechanism_class(name: str) -> type:
    """The `Attention` subclass registered as `name`, imported on first use."""
    try:
        module, cls = MECHANISMS[name]
    except KeyError:
        raise ValueError(f"unknown attention {name!r}; choose from {sorted(MECHANISMS)}") from None
    return getattr(importlib.import_module(module), cls)


def mechanism_modules(names) -> list[str]:
    """The modules implementing the named mechanisms (sorted, no duplicates), for code hashing."""
    names = [names] if isinstance(names, str) else list(names)
    unknown = sorted(set(names) - set(MECHANISMS))
    if unknown:
        raise ValueError(f"unknown attention {unknown}; choose from {sorted(MECHANISMS)}")
    return sorted({MECHANISMS[n][0] for n in names})


def build_attention(config, layer_idx: int):
    return mechanism_class(config.attention)(config, layer_idx, **(config.attention_options or {}))


__all__ = ["MECHANISMS", "build_attention", "mechanism_class", "mechanism_modules"]

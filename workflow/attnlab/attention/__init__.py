"""Attention mechanisms, one module each, behind the interface of `attnlab.attention.base.Attention`.

A model config names its mechanism (`attention="moh"`) and options (`attention_options={...}`);
`build_attention` looks it up here. Adding a mechanism = a new file + one entry below.
"""

from attnlab.attention.base import Attention, AttentionContext
from attnlab.attention.dynamic_mask import DynamicMaskAttention
from attnlab.attention.meta import MetaAttention
from attnlab.attention.moh import MoHAttention
from attnlab.attention.sigmoid import SigmoidAttention
from attnlab.attention.sliding_window import SlidingWindowAttention
from attnlab.attention.softmax import SoftmaxAttention

MECHANISMS = {
    "softmax": SoftmaxAttention,
    "sigmoid": SigmoidAttention,
    "sliding_window": SlidingWindowAttention,
    "moh": MoHAttention,
    "meta": MetaAttention,
    "dynamic_mask": DynamicMaskAttention,
}


def build_attention(config, layer_idx: int) -> Attention:
    try:
        cls = MECHANISMS[config.attention]
    except KeyError:
        raise ValueError(f"unknown attention {config.attention!r}; choose from {sorted(MECHANISMS)}") from None
    return cls(config, layer_idx, **(config.attention_options or {}))


__all__ = ["Attention", "AttentionContext", "MECHANISMS", "build_attention"]

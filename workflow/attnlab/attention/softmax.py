"""Standard causal softmax attention (Vaswani et al. 2017; GPT-2). Fused sdpa kernel unless the
pattern is hooked or requested, then the same function computed explicitly."""

from attnlab.attention.base import Attention


class SoftmaxAttention(Attention):
    kv_cache = True

"""Weight conversion between transformers' GPT-2 and the attnlab LM (softmax, learned positions)."""

from __future__ import annotations

import torch

from attnlab.lm.configuration import AttnLMConfig

_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def config_from_gpt2(gpt2_config) -> AttnLMConfig:
    inner = gpt2_config.n_inner or 4 * gpt2_config.n_embd
    if inner % gpt2_config.n_embd or gpt2_config.activation_function not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ValueError("only GPT-2 configs with an integer MLP ratio and tanh-GELU convert")
    return AttnLMConfig(vocab_size=gpt2_config.vocab_size, n_positions=gpt2_config.n_positions,
                        n_embd=gpt2_config.n_embd, n_layer=gpt2_config.n_layer, n_head=gpt2_config.n_head,
                        mlp_ratio=inner // gpt2_config.n_embd, attention="softmax", position_encoding="learned",
                        layer_norm_epsilon=gpt2_config.layer_norm_epsilon,
                        initializer_range=gpt2_config.initializer_range,
                        pad_token_id=gpt2_config.pad_token_id, bos_token_id=gpt2_config.bos_token_id,
                        eos_token_id=gpt2_config.eos_token_id)


def state_dict_from_gpt2(gpt2_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """GPT2LMHeadModel's state dict -> ours. GPT-2's Conv1D stores weights (in, out): transpose."""
    out = {}
    for name, w in gpt2_state.items():
        if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias"):
            continue
        new = name.removeprefix("transformer.").replace("h.", "blocks.", 1) if name.startswith("transformer.h.") \
            else name.removeprefix("transformer.")
        if any(new.endswith(s) for s in _CONV1D):
            w = w.t()
        out[new] = w.contiguous()
    return out

"""The attnlab causal LM: GPT-2's pre-LayerNorm decoder, top to bottom, with a swappable attention.

    embed (+ learned positions) -> [Block: x + attn(ln_1 x); x + mlp(ln_2 x)] × n_layer -> ln_f -> lm_head

The attention of every block is `attnlab.attention.build_attention(config, i)`; nothing else in
this file knows which mechanism runs: it only calls the interface of
`attnlab.attention.base.Attention` (`prepare` each layer's context, run it, add its `aux_loss()`).
With attention="softmax" and learned positions the model computes exactly GPT-2's function
(tests/unit/test_parity.py checks logits against GPT2LMHeadModel).

Hook points (see attnlab.hooks): `blocks.{i}.hook_resid_pre`, `blocks.{i}.attn.hook_*`,
`blocks.{i}.hook_attn_out`, `blocks.{i}.hook_mlp_out`, `blocks.{i}.hook_resid_post`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import DynamicCache, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache
from transformers.utils import ModelOutput

from attnlab import hooks
from attnlab.attention import build_attention
from attnlab.attention.base import Attention, AttentionContext
from attnlab.hooks import HookPoint
from attnlab.lm.configuration import AttnLMConfig
from attnlab.remote_code import SelfDescribingCausalLM


class MLP(nn.Module):
    def __init__(self, config: AttnLMConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, config.mlp_ratio * config.n_embd)
        self.c_proj = nn.Linear(config.mlp_ratio * config.n_embd, config.n_embd)

    def forward(self, x):
        # GPT-2's "gelu_new" is the tanh approximation; the fused kernel computes the same function
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, config: AttnLMConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = build_attention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)
        self.hook_resid_pre, self.hook_attn_out = HookPoint(), HookPoint()
        self.hook_mlp_out, self.hook_resid_post = HookPoint(), HookPoint()

    def forward(self, x, ctx: AttentionContext):
        x = self.hook_resid_pre(x)
        attn_out, pattern = self.attn(self.ln_1(x), ctx)
        x = x + self.hook_attn_out(attn_out)
        x = x + self.hook_mlp_out(self.mlp(self.ln_2(x)))
        return self.hook_resid_post(x), pattern


@dataclass
class AttnLMOutput(ModelOutput):
    loss: torch.Tensor | None = None  # lm_loss + aux_loss
    logits: torch.Tensor | None = None
    lm_loss: torch.Tensor | None = None  # next-token cross-entropy over labelled positions
    aux_loss: torch.Tensor | None = None  # mechanism losses (e.g. MoH load balance), already weighted
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    cache: Cache | None = None  # the KV cache, with this call's keys and values added (use_cache)


class AttnLMForCausalLM(SelfDescribingCausalLM, PreTrainedModel, GenerationMixin):
    config_class = AttnLMConfig
    base_model_prefix = "attnlab_lm"
    main_input_name = "input_ids"
    _no_split_modules = ["Block"]
    _tied_weights_keys = {"lm_head.weight": "wte.weight"}

    def __init__(self, config: AttnLMConfig):
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd) if config.position_encoding == "learned" else None
        self.blocks = nn.ModuleList([Block(config, i) for i in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()
        hooks.name_hook_points(self)

    def _initialize_weights(self, module, is_custom_code: bool = False):
        # transformers 5 treats attnlab as custom code and then skips every module whose own
        # parameters are all initialised, which includes modules with none (MLP, Block, most
        # attentions): their _init_weights never runs. gpt2_init turns that shortcut off; _init_weights
        # only uses transformers.initialization, which leaves loaded (flagged) weights alone.
        super()._initialize_weights(module, is_custom_code=is_custom_code and not self.config.gpt2_init)

    def _init_weights(self, module):
        super()._init_weights(module)  # normal(0, initializer_range) for Linear/Embedding, LayerNorm to (1, 0)
        if isinstance(module, (MLP, Attention)):
            # GPT-2: scale residual-path projections by 1/√(2·n_layer)
            init.normal_(module.c_proj.weight, mean=0.0,
                         std=self.config.initializer_range / math.sqrt(2 * self.config.n_layer))
        if isinstance(module, Attention):
            module.init_extra_parameters(init)

    def get_input_embeddings(self):
        return self.wte

    def set_input_embeddings(self, value):
        self.wte = value

    def get_output_embeddings(self):
        return self.lm_head

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                logits_to_keep: int = 0, structure_mask: torch.Tensor | None = None,
                segment_ids: torch.Tensor | None = None, key_positions: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, token_type: torch.Tensor | None = None,
                cache: Cache | None = None, use_cache: bool | None = None, **kwargs) -> AttnLMOutput:
        """`structure_mask` ((batch or 1, query, key) or (batch or 1, 1, query, key) bool, True =
        allowed, e.g. attnlab.attention.base.prefix_lm_mask) replaces the causal pattern;
        `segment_ids` ((batch, pos) int) keeps attention within packed documents; `key_positions`
        ((batch, query, key) int, rotary positions only) is the position of each key as each query
        sees it. None given: causal attention, as GPT-2.
        `inputs_embeds` ((batch, pos, n_embd), HF convention) replaces `wte(input_ids)`; `input_ids`
        may still be given beside it (mechanisms that look at token ids read them in `prepare`).
        `token_type` ((batch, pos) int, the VLM's TokenLayout types) reaches every layer's context.
        `cache` (a transformers Cache holding the keys and values of `past` earlier positions; a new
        DynamicCache when `use_cache` and none is given): the batch's tokens are positions past ..,
        `attention_mask` and `structure_mask` cover all past + pos keys; returned in `output.cache`.
        Only mechanisms with `kv_cache` take one (`supports_kv_cache`)."""
        if key_positions is not None and self.config.position_encoding == "learned":
            raise ValueError("key_positions (per-query key positions) need position_encoding='rope' (or 'none'): "
                             "learned positions are added to the embeddings once, for every query alike")
        if inputs_embeds is None and input_ids is None:
            raise ValueError("give input_ids or inputs_embeds")
        if inputs_embeds is not None and input_ids is not None and input_ids.shape != inputs_embeds.shape[:2]:
            raise ValueError(f"input_ids {tuple(input_ids.shape)} and inputs_embeds {tuple(inputs_embeds.shape)} "
                             "disagree in (batch, pos)")
        if structure_mask is not None and structure_mask.dim() == 4:
            if structure_mask.shape[1] != 1:
                raise ValueError(f"structure_mask (batch, 1, query, key) must have one head slot, "
                                 f"got shape {tuple(structure_mask.shape)}")
            structure_mask = structure_mask[:, 0]
        B, T = input_ids.shape if inputs_embeds is None else inputs_embeds.shape[:2]
        device = input_ids.device if inputs_embeds is None else inputs_embeds.device
        if cache is None and use_cache:
            cache = DynamicCache(config=self.config)
        if cache is not None and not self.supports_kv_cache():
            raise ValueError(f"attention {self.config.attention!r} does not take a KV cache (use_cache=False)")
        past = cache.get_seq_length() if cache is not None else 0
        if attention_mask is not None and attention_mask.shape[-1] != past + T:
            raise ValueError(f"attention_mask covers {attention_mask.shape[-1]} positions; the cache holds {past} "
                             f"and the batch {T}")
        key_padding = None
        if attention_mask is not None and not bool(attention_mask.all()):
            key_padding = attention_mask.bool()
        if position_ids is None:
            if key_padding is not None:  # left padding: real tokens count from 0
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, past:]
            else:
                position_ids = torch.arange(past, past + T, device=device).expand(B, T)
        ctx = AttentionContext(
            position_ids=position_ids, key_padding=key_padding,
            rope_theta=self.config.rope_theta if self.config.position_encoding == "rope" else None,
            output_attentions=bool(output_attentions), structure_mask=structure_mask, segment_ids=segment_ids,
            key_positions=key_positions, token_type=token_type, cache=cache, past_len=past,
        )
        x = self.wte(input_ids) if inputs_embeds is None else inputs_embeds
        if self.wpe is not None:
            if past + T > self.config.n_positions:
                raise ValueError(f"sequence length {past + T} exceeds n_positions={self.config.n_positions} "
                                 "(learned positions cannot extrapolate; use position_encoding='rope')")
            x = x + self.wpe(position_ids)
        hidden, attentions = [], []
        for block in self.blocks:
            if output_hidden_states:
                hidden.append(x)
            x, pattern = block(x, block.attn.prepare(ctx, input_ids))
            attentions.append(pattern)
        x = self.ln_f(x)
        if output_hidden_states:
            hidden.append(x)
        if logits_to_keep:
            x = x[:, -logits_to_keep:]
        logits = self.lm_head(x)

        aux = [a for a in (b.attn.aux_loss() for b in self.blocks) if a is not None]
        aux_loss = torch.stack(aux).sum() if aux else None
        lm_loss = loss = None
        if labels is not None:
            lm_loss = next_token_loss(logits, labels)
            loss = lm_loss if aux_loss is None else lm_loss + aux_loss
        return AttnLMOutput(loss=loss, logits=logits, lm_loss=lm_loss, aux_loss=aux_loss,
                            hidden_states=tuple(hidden) if output_hidden_states else None,
                            attentions=tuple(attentions) if output_attentions else None, cache=cache)

    # --- generation: with a KV cache when every layer's mechanism takes one -------------------
    def supports_kv_cache(self) -> bool:
        return all(type(b.attn).kv_cache for b in self.blocks)

    def _supports_default_dynamic_cache(self) -> bool:
        # GenerationMixin prepares a DynamicCache only when this is true; otherwise every step
        # recomputes the whole prefix (mechanisms without `kv_cache`)
        return self.supports_kv_cache()

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, cache=None, **kwargs):
        past = cache.get_seq_length() if cache is not None else 0
        inputs = {"input_ids": input_ids[:, past:], "attention_mask": attention_mask}
        if cache is not None:
            inputs["cache"] = cache
        return inputs

    # --- TransformerLens-style analysis API -----------------------------------------------
    def hook_points(self) -> dict[str, HookPoint]:
        return hooks.name_hook_points(self)

    def run_with_cache(self, input_ids, names=None, **kwargs):
        """`(output, {hook name: activation})`; names: None (all), a list, or a predicate."""
        return hooks.run_with_cache(self, input_ids, names=names, **kwargs)

    def run_with_hooks(self, input_ids, fwd_hooks=(), **kwargs):
        """Run with `[(hook name or predicate, fn(activation, hook) -> activation | None), ...]`."""
        return hooks.run_with_hooks(self, input_ids, fwd_hooks=fwd_hooks, **kwargs)

    def ablate_heads(self, heads: dict[int, list[int]]):
        """Context manager: zero the outputs of `{layer: [head, ...]}` on every forward pass inside it."""
        return hooks.hooks(self, [(f"blocks.{layer}.attn.hook_z", hooks.ablate_heads(hs))
                                  for layer, hs in heads.items()])


def next_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of predicting labels[:, t+1] at position t (HF convention: labels are not
    pre-shifted; -100 marks positions without a target)."""
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100)

"""The attnlab encoder–decoder: pre-LayerNorm blocks with swappable attentions, transformers-native.

    encoder: embed (+ positions) -> [x + self_attn(ln_1 x); x + mlp(ln_2 x)] × n_encoder_layer -> ln_f
    decoder: embed (+ positions) -> [x + self_attn(ln_1 x); x + cross_attn(ln_cross x, memory);
                                     x + mlp(ln_2 x)] × n_decoder_layer -> ln_f -> lm_head

Encoder self-attention is bidirectional over the real source tokens (`attention_mask`); decoder
self-attention is causal (or bidirectional, `decoder_causal=False`: targets given all at once);
cross-attention lets every decoder position see every real encoder state. Each role's mechanism is
one of `attnlab.attention` (AttnSeq2SeqConfig). Token embeddings live in the encoder and are shared
by the decoder and the output head (tied).

- `AttnSeq2SeqForConditionalGeneration` (AutoModelForSeq2SeqLM): loss = cross-entropy of the
  decoder outputs against `labels` (T5 convention: not shifted; `decoder_input_ids` default to the
  labels shifted right behind BOS); `generate()` works (greedy, no KV cache).
- `AttnEncoderForMaskedLM` (AutoModelForMaskedLM): the encoder alone with the tied head; loss on
  `labels` at the same positions (masked-token recovery).

Sources are padded on the right (positions count from 0 at the first token). Hook points:
`encoder.blocks.{i}.attn.hook_*`, `decoder_blocks.{i}.self_attn.hook_*`,
`decoder_blocks.{i}.cross_attn.attn.hook_*` (pattern: (batch, head, target, source)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from attnlab import hooks
from attnlab.attention import build_attention
from attnlab.attention.base import Attention, AttentionContext
from attnlab.attention.patterns import full_context
from attnlab.hooks import HookPoint
from attnlab.lm.modeling import MLP
from attnlab.remote_code import SelfDescribingModel
from attnlab.seq2seq.configuration import AttnSeq2SeqConfig


class CrossAttention(nn.Module):
    """Queries from the decoder stream, keys and values from the encoder memory, through any
    mechanism's own projections and `attend` (its fused q/k/v projection is split: the query rows
    read the decoder state, the key and value rows read the memory). No rotary positions: the
    encoder states carry their positions already."""

    def __init__(self, config: AttnSeq2SeqConfig, layer_idx: int):
        super().__init__()
        self.attn = build_attention(config.role("cross"), layer_idx)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, ctx: AttentionContext):
        a = self.attn
        B, Tq, d = x.shape
        Tk = memory.shape[1]
        w, b = a.c_attn.weight, a.c_attn.bias
        q = F.linear(x, w[:d], b[:d]).view(B, Tq, a.n_head, a.head_dim)
        k, v = F.linear(memory, w[d:], b[d:]).view(B, Tk, 2, a.n_head, a.head_dim).unbind(2)
        q, k, v = a.hook_q(q), a.hook_k(k), a.hook_v(v)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        z, pattern = a.attend(q, k, v, ctx)
        z = a.hook_z(z.transpose(1, 2))
        return a.c_proj(a.combine_heads(z, x, ctx)), pattern


class EncoderBlock(nn.Module):
    def __init__(self, config: AttnSeq2SeqConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = build_attention(config.role("encoder"), layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(self, x, ctx):
        attn_out, pattern = self.attn(self.ln_1(x), ctx)
        x = x + attn_out
        return x + self.mlp(self.ln_2(x)), pattern


class DecoderBlock(nn.Module):
    def __init__(self, config: AttnSeq2SeqConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.self_attn = build_attention(config.role("decoder"), layer_idx)
        self.ln_cross = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.cross_attn = CrossAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(self, x, memory, self_ctx, cross_ctx):
        self_out, self_pattern = self.self_attn(self.ln_1(x), self_ctx)
        x = x + self_out
        cross_out, cross_pattern = self.cross_attn(self.ln_cross(x), memory, cross_ctx)
        x = x + cross_out
        return x + self.mlp(self.ln_2(x)), self_pattern, cross_pattern


@dataclass
class EncoderOutput(ModelOutput):
    last_hidden_state: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


def _rope(config) -> float | None:
    return config.rope_theta if config.position_encoding == "rope" else None


def _positions(ids: torch.Tensor) -> torch.Tensor:
    B, T = ids.shape
    return torch.arange(T, device=ids.device).expand(B, T)


def _key_padding(mask: torch.Tensor | None) -> torch.Tensor | None:
    return None if mask is None or bool(mask.all()) else mask.bool()


class AttnEncoder(nn.Module):
    """Token embedding (+ learned positions), bidirectional blocks, final LayerNorm."""

    main_input_name = "input_ids"

    def __init__(self, config: AttnSeq2SeqConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd) if config.position_encoding == "learned" else None
        self.blocks = nn.ModuleList([EncoderBlock(config, i) for i in range(config.n_encoder_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                **kwargs) -> EncoderOutput:
        pos = _positions(input_ids)
        ctx = full_context(pos, key_padding=_key_padding(attention_mask), rope_theta=_rope(self.config),
                           output_attentions=bool(output_attentions))
        x = embed(self.wte, self.wpe, input_ids, pos, self.config.n_positions)
        hidden, attentions = [], []
        for block in self.blocks:
            if output_hidden_states:
                hidden.append(x)
            x, pattern = block(x, block.attn.prepare(ctx, input_ids))
            attentions.append(pattern)
        x = self.ln_f(x)
        if output_hidden_states:
            hidden.append(x)
        return EncoderOutput(last_hidden_state=x, hidden_states=tuple(hidden) if output_hidden_states else None,
                             attentions=tuple(attentions) if output_attentions else None)


def embed(wte, wpe, ids, pos, n_positions):
    x = wte(ids)
    if wpe is not None:
        if ids.shape[1] > n_positions:
            raise ValueError(f"sequence length {ids.shape[1]} exceeds n_positions={n_positions} "
                             "(learned positions cannot extrapolate; use position_encoding='rope')")
        x = x + wpe(pos)
    return x


@dataclass
class Seq2SeqOutput(ModelOutput):
    loss: torch.Tensor | None = None  # lm_loss + aux_loss
    logits: torch.Tensor | None = None
    lm_loss: torch.Tensor | None = None
    aux_loss: torch.Tensor | None = None
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_attentions: tuple[torch.Tensor, ...] | None = None
    decoder_attentions: tuple[torch.Tensor, ...] | None = None
    cross_attentions: tuple[torch.Tensor, ...] | None = None


class _AttnlabPreTrained(SelfDescribingModel, PreTrainedModel):
    config_class = AttnSeq2SeqConfig
    base_model_prefix = "attnlab_seq2seq"
    main_input_name = "input_ids"
    _tied_weights_keys = {"lm_head.weight": "encoder.wte.weight"}

    def _depth(self) -> int:
        return self.config.n_encoder_layer + self.config.n_decoder_layer

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, (MLP, Attention)):  # GPT-2: residual projections scaled by 1/√(2·layers)
            init.normal_(module.c_proj.weight, mean=0.0,
                         std=self.config.initializer_range / math.sqrt(2 * max(self._depth(), 1)))
        if isinstance(module, Attention):
            module.init_extra_parameters(init)

    def get_input_embeddings(self):
        return self.encoder.wte

    def set_input_embeddings(self, value):
        self.encoder.wte = value

    def get_output_embeddings(self):
        return self.lm_head

    def _aux_loss(self) -> torch.Tensor | None:
        aux = [a for a in (m.aux_loss() for m in self.modules() if isinstance(m, Attention)) if a is not None]
        return torch.stack(aux).sum() if aux else None

    def hook_points(self) -> dict[str, HookPoint]:
        return hooks.name_hook_points(self)

    def run_with_cache(self, input_ids, names=None, **kwargs):
        return hooks.run_with_cache(self, input_ids, names=names, **kwargs)

    def run_with_hooks(self, input_ids, fwd_hooks=(), **kwargs):
        return hooks.run_with_hooks(self, input_ids, fwd_hooks=fwd_hooks, **kwargs)


def token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of labels at the same positions (-100: no target)."""
    return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)


class AttnSeq2SeqForConditionalGeneration(_AttnlabPreTrained, GenerationMixin):
    auto_class = "AutoModelForSeq2SeqLM"
    _no_split_modules = ["EncoderBlock", "DecoderBlock"]

    def __init__(self, config: AttnSeq2SeqConfig):
        super().__init__(config)
        self.encoder = AttnEncoder(config)
        self.dec_wpe = nn.Embedding(config.n_positions, config.n_embd) if config.position_encoding == "learned" else None
        self.decoder_blocks = nn.ModuleList([DecoderBlock(config, i) for i in range(config.n_decoder_layer)])
        self.ln_dec = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()
        hooks.name_hook_points(self)

    def get_encoder(self, modality=None):
        return self.encoder

    def shift_right(self, labels: torch.Tensor) -> torch.Tensor:
        """decoder_input_ids for teacher forcing: BOS, then the labels but the last (-100 -> PAD)."""
        start = torch.full_like(labels[:, :1], self.config.decoder_start_token_id)
        shifted = torch.cat([start, labels[:, :-1]], dim=1)
        return shifted.masked_fill(shifted == -100, self.config.pad_token_id)

    def decode(self, decoder_input_ids, memory, attention_mask=None, decoder_attention_mask=None,
               output_attentions=False, output_hidden_states=False):
        """Decoder logits, its self- and cross-attention patterns, hidden states."""
        pos = _positions(decoder_input_ids)
        dec_padding = _key_padding(decoder_attention_mask)
        common = {"rope_theta": _rope(self.config), "output_attentions": bool(output_attentions)}
        if self.config.decoder_causal:
            self_ctx = AttentionContext(position_ids=pos, key_padding=dec_padding, **common)
        else:
            self_ctx = full_context(pos, key_padding=dec_padding, **common)
        cross_ctx = full_context(pos, n_keys=memory.shape[1], key_padding=_key_padding(attention_mask),
                                 output_attentions=bool(output_attentions))
        x = embed(self.encoder.wte, self.dec_wpe, decoder_input_ids, pos, self.config.n_positions)
        hidden, self_patterns, cross_patterns = [], [], []
        for block in self.decoder_blocks:
            if output_hidden_states:
                hidden.append(x)
            x, sp, cp = block(x, memory, block.self_attn.prepare(self_ctx, decoder_input_ids), cross_ctx)
            self_patterns.append(sp)
            cross_patterns.append(cp)
        x = self.ln_dec(x)
        if output_hidden_states:
            hidden.append(x)
        return self.lm_head(x), self_patterns, cross_patterns, hidden

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, encoder_outputs=None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, **kwargs) -> Seq2SeqOutput:
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids, attention_mask, output_attentions=output_attentions)
        memory = encoder_outputs[0] if isinstance(encoder_outputs, (tuple, list)) else encoder_outputs.last_hidden_state
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("give decoder_input_ids or labels (teacher forcing shifts the labels right)")
            decoder_input_ids = self.shift_right(labels)
        logits, sp, cp, _ = self.decode(decoder_input_ids, memory, attention_mask, decoder_attention_mask,
                                        output_attentions, output_hidden_states)
        aux_loss = self._aux_loss()
        lm_loss = loss = None
        if labels is not None:
            lm_loss = token_loss(logits, labels)
            loss = lm_loss if aux_loss is None else lm_loss + aux_loss
        enc_att = getattr(encoder_outputs, "attentions", None)
        return Seq2SeqOutput(loss=loss, logits=logits, lm_loss=lm_loss, aux_loss=aux_loss,
                             encoder_last_hidden_state=memory, encoder_attentions=enc_att,
                             decoder_attentions=tuple(sp) if output_attentions else None,
                             cross_attentions=tuple(cp) if output_attentions else None)

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, encoder_outputs=None, **kwargs):
        # no KV cache: every step re-runs the decoder on the whole prefix
        return {"decoder_input_ids": input_ids, "attention_mask": attention_mask, "encoder_outputs": encoder_outputs}


class AttnEncoderForMaskedLM(_AttnlabPreTrained):
    """The encoder with the tied output head: predicts each position's own token (masked-token
    recovery, labels -100 where there is no target). `n_decoder_layer` is ignored."""

    auto_class = "AutoModelForMaskedLM"

    def __init__(self, config: AttnSeq2SeqConfig):
        super().__init__(config)
        self.encoder = AttnEncoder(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()
        hooks.name_hook_points(self)

    def _depth(self) -> int:
        return self.config.n_encoder_layer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, **kwargs) -> Seq2SeqOutput:
        enc = self.encoder(input_ids, attention_mask, output_attentions=output_attentions,
                           output_hidden_states=output_hidden_states)
        logits = self.lm_head(enc.last_hidden_state)
        aux_loss = self._aux_loss()
        lm_loss = loss = None
        if labels is not None:
            lm_loss = token_loss(logits, labels)
            loss = lm_loss if aux_loss is None else lm_loss + aux_loss
        return Seq2SeqOutput(loss=loss, logits=logits, lm_loss=lm_loss, aux_loss=aux_loss,
                             encoder_last_hidden_state=enc.last_hidden_state, encoder_attentions=enc.attentions)

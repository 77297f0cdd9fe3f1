"""One face for every model: named activations and per-head ablation, ours or any local Hugging
Face causal LM.

    model = load_head_model("results/retrieval_heads/runs/seed0")     # or a Llama/Qwen2/GPT-2 dir
    logits, cache = model.run(ids, names=model.pattern_names(), ablate={3: [1, 5]})
    cache["blocks.0.attn.hook_pattern"]                                # (batch, head, query, key)

Names follow TransformerLens (and attnlab.hooks): `blocks.{l}.attn.hook_pattern` (attention
probabilities), `blocks.{l}.attn.hook_z` (batch, pos, head, d_head: per-head outputs before the
output projection), `blocks.{l}.hook_mlp_out` and `blocks.{l}.hook_resid_pre` (batch, pos, d_model).
`ablate={layer: [head, ...]}` zeroes those heads' outputs before the output projection.

Our models (model_type "attnlab_lm") have these hook points natively. A Hugging Face model is
loaded with eager attention (with sdpa, `output_attentions` silently returns nothing); patterns
come from `output_attentions`, per-head outputs and ablation from a forward pre-hook on the input
of the attention output projection (o_proj / c_proj / dense), residual and MLP outputs from hooks
on the decoder layers. The analysis code sees names only; this module is the one place that knows
where a family keeps its layers.

Synthetic tasks speak in token ids: `token_offset` shifts the task vocabulary into the model's
vocabulary range (a tokenizer-free run) — `encode` and `decode` apply and undo it.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import torch
from torch import nn

from attnlab import AttnlabError

# Where a decoder layer keeps its attention output projection and its MLP, by family.
OUT_PROJ_NAMES = ("self_attn.o_proj", "attn.c_proj", "self_attention.dense", "attention.dense",
                  "attn.out_proj", "self_attn.out_proj", "attn.o_proj")
MLP_NAMES = ("mlp", "feed_forward", "ffn")
NAME = re.compile(r"blocks\.(\d+)\.(attn\.hook_pattern|attn\.hook_z|hook_mlp_out|hook_resid_pre)$")


class HeadModel:
    """The interface every analysis uses (see the module docstring)."""

    n_layers: int
    n_heads: int
    vocab_size: int
    max_positions: int | None
    token_offset: int = 0
    label: str = ""

    def run(self, input_ids: torch.Tensor, names=(), ablate: dict[int, list[int]] | None = None):
        """Forward pass -> (logits (batch, pos, vocab), {name: activation}) for the requested names."""
        raise NotImplementedError

    def pattern_names(self) -> list[str]:
        return [f"blocks.{l}.attn.hook_pattern" for l in range(self.n_layers)]

    def encode(self, task_ids: torch.Tensor) -> torch.Tensor:
        return task_ids + self.token_offset

    def decode(self, model_ids: torch.Tensor) -> torch.Tensor:
        return model_ids - self.token_offset

    def check_vocab(self, task_vocab: int) -> None:
        if self.token_offset + task_vocab > self.vocab_size:
            raise AttnlabError(f"{self.label}: task ids need {task_vocab} tokens from offset {self.token_offset}, "
                               f"the model has {self.vocab_size}")


def _parse(names) -> list[tuple[int, str, str]]:
    out = []
    for n in names:
        m = NAME.match(n)
        if not m:
            raise KeyError(f"unknown activation name {n!r} (expected blocks.<l>.attn.hook_pattern, "
                           "blocks.<l>.attn.hook_z, blocks.<l>.hook_mlp_out or blocks.<l>.hook_resid_pre)")
        out.append((int(m.group(1)), m.group(2), n))
    return out


class AttnLabHeadModel(HeadModel):
    """Our causal LM: its own hook points carry the names."""

    def __init__(self, model, token_offset: int = 0, label: str = "attnlab_lm"):
        self.model = model.eval()
        c = model.config
        self.n_layers, self.n_heads, self.vocab_size = c.n_layer, c.n_head, c.vocab_size
        self.max_positions = c.n_positions if c.position_encoding == "learned" else None
        self.token_offset, self.label = token_offset, label

    @torch.no_grad()
    def run(self, input_ids, names=(), ablate=None):
        names = [n for _, _, n in _parse(names)]
        ctx = self.model.ablate_heads(ablate) if ablate else contextlib.nullcontext()
        with ctx:
            out, cache = self.model.run_with_cache(input_ids, names=names)
        return out.logits, {n: cache[n] for n in names}


class HFHeadModel(HeadModel):
    """Any Hugging Face causal LM whose decoder layers sit in one ModuleList (GPT-2, Llama, Qwen2,
    Mistral, GPT-NeoX, ...), run in eager attention."""

    def __init__(self, model, token_offset: int = 0, label: str = "hf"):
        if hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation("eager")
        self.model = model.eval()
        c = model.config
        self.n_layers = c.num_hidden_layers
        self.n_heads = c.num_attention_heads
        self.vocab_size = c.vocab_size
        self.max_positions = getattr(c, "max_position_embeddings", None)
        self.token_offset, self.label = token_offset, label
        self.layers = self._decoder_layers()
        self.out_proj = [self._find(layer, OUT_PROJ_NAMES, "attention output projection") for layer in self.layers]
        self.mlps = [self._find(layer, MLP_NAMES, "MLP") for layer in self.layers]

    def _decoder_layers(self) -> nn.ModuleList:
        for _, module in self.model.named_modules():
            if isinstance(module, nn.ModuleList) and len(module) == self.n_layers:
                return module
        raise AttnlabError(f"{self.label}: no list of {self.n_layers} decoder layers found in "
                           f"{type(self.model).__name__}")

    def _find(self, layer: nn.Module, names: tuple[str, ...], what: str) -> nn.Module:
        for name in names:
            try:
                return layer.get_submodule(name)
            except AttributeError:
                continue
        raise AttnlabError(f"{self.label}: no {what} in {type(layer).__name__} (looked for {', '.join(names)})")

    @torch.no_grad()
    def run(self, input_ids, names=(), ablate=None):
        wanted = _parse(names)
        cache: dict[str, torch.Tensor] = {}
        handles = []
        H = self.n_heads

        def z_hook(l, heads, store):
            def hook(module, args):
                x = args[0]
                B, T, D = x.shape
                z = x.view(B, T, H, D // H)
                if heads:
                    z = z.clone()
                    z[:, :, heads] = 0.0
                if store:
                    cache[f"blocks.{l}.attn.hook_z"] = z.detach().clone()
                return (z.reshape(B, T, D), *args[1:]) if heads else None
            return hook

        def mlp_hook(l):
            def hook(module, args, out):
                cache[f"blocks.{l}.hook_mlp_out"] = (out[0] if isinstance(out, tuple) else out).detach()
            return hook

        def resid_hook(l):
            def hook(module, args, kwargs):
                x = args[0] if args else kwargs["hidden_states"]
                cache[f"blocks.{l}.hook_resid_pre"] = x.detach()
            return hook

        kinds = {(l, kind) for l, kind, _ in wanted}
        ablate = {int(l): list(hs) for l, hs in (ablate or {}).items() if hs}
        try:
            for l in range(self.n_layers):
                heads, store = ablate.get(l, []), (l, "attn.hook_z") in kinds
                if heads or store:
                    handles.append(self.out_proj[l].register_forward_pre_hook(z_hook(l, heads, store)))
                if (l, "hook_mlp_out") in kinds:
                    handles.append(self.mlps[l].register_forward_hook(mlp_hook(l)))
                if (l, "hook_resid_pre") in kinds:
                    handles.append(self.layers[l].register_forward_pre_hook(resid_hook(l), with_kwargs=True))
            want_patterns = any(kind == "attn.hook_pattern" for _, kind in kinds)
            out = self.model(input_ids=input_ids, output_attentions=want_patterns, use_cache=False)
        finally:
            for h in handles:
                h.remove()
        if want_patterns:
            if not out.attentions or any(a is None for a in out.attentions):
                raise AttnlabError(f"{self.label}: the model returned no attention probabilities "
                                   "(is it running eager attention?)")
            for l, kind, n in wanted:
                if kind == "attn.hook_pattern":
                    cache[n] = out.attentions[l].detach()
        return out.logits, {n: cache[n] for _, _, n in wanted}


def wrap(model, token_offset: int = 0, label: str | None = None) -> HeadModel:
    """A HeadModel around an already loaded model."""
    if getattr(model.config, "model_type", None) == "attnlab_lm":
        return AttnLabHeadModel(model, token_offset, label or "attnlab_lm")
    return HFHeadModel(model, token_offset, label or model.config.model_type)


def load_head_model(path: str | Path, token_offset: int = 0, label: str | None = None) -> HeadModel:
    """Load a run directory of ours or any local Hugging Face causal LM (fp32, eager attention)."""
    from transformers import AutoModelForCausalLM

    import attnlab.models  # noqa: F401  (registers our model with the Auto classes)

    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise AttnlabError(f"not a model directory (no config.json): {path}")
    model_type = json.loads(cfg_file.read_text()).get("model_type")
    if model_type == "attnlab_lm":
        model = AutoModelForCausalLM.from_pretrained(path)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", dtype=torch.float32)
    return wrap(model, token_offset, label or path.name)

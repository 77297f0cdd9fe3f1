"""One face for every model: named activations and per-head ablation, ours or any local Hugging
Face causal LM.

    model = load_head_model("results/retrieval_heads/runs/seed0")     # or a Llama/Qwen2/GPT-2 dir
    logits, cache = model.run(ids, names=model.pattern_names(), ablate={3: [1, 5]})
    cache["blocks.0.attn.hook_pattern"]                                # (batch, head, query, key)

Names follow TransformerLens (and attnlab.hooks): `blocks.{l}.attn.hook_pattern` (attention
probabilities), `blocks.{l}.attn.hook_z` (batch, pos, head, d_head: per-head outputs before the
output projection), `blocks.{l}.hook_mlp_out` and `blocks.{l}.hook_resid_pre` (batch, pos, d_model).
`ablate={layer: [head, ...]}` zeroes those heads' outputs before the output projection.
`patch={name: fn}` replaces the activation `name` (hook_z, hook_q or hook_k, each (batch, pos, head,
d_head); q and k before rotary positions) by `fn(activation)`: mean ablation, injection, projection.
`grad=True` keeps the autograd graph (the weights stay frozen unless the caller unfreezes them), so
a parameter inside a patch can be trained through a frozen model.
`final_residual(ids)` is the residual stream entering the final norm; `frozen()` a context in which
no weight takes a gradient. `head_writes(layer, z)` gives each head's write into the residual stream (its slice of the output
projection, no bias) and `unembed_direct(resid, writes)` the logits those writes add directly, with
the final norm's scale frozen at `resid` (direct logit attribution).

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
PATCH = re.compile(r"blocks\.(\d+)\.attn\.(hook_z|hook_q|hook_k)$")
FINAL_NORM_NAMES = ("ln_f", "transformer.ln_f", "model.norm", "norm", "model.final_layernorm", "gpt_neox.final_layer_norm")


class HeadModel:
    """The interface every analysis uses (see the module docstring)."""

    n_layers: int
    n_heads: int
    vocab_size: int
    max_positions: int | None
    token_offset: int = 0
    label: str = ""

    def run(self, input_ids: torch.Tensor, names=(), ablate: dict[int, list[int]] | None = None,
            patch: dict | None = None, grad: bool = False):
        """Forward pass -> (logits (batch, pos, vocab), {name: activation}) for the requested names."""
        raise NotImplementedError

    def head_writes(self, layer: int, z: torch.Tensor) -> torch.Tensor:
        """(batch, pos, head, d_head) per-head outputs of `layer` -> (batch, pos, head, d_model):
        each head's write into the residual stream (output projection slice, bias left out)."""
        W = self._out_weight(layer)  # (d_model, head · d_head)
        B, T, H, d = z.shape
        return torch.einsum("bthd,mhd->bthm", z, W.view(W.shape[0], H, d))

    def unembed_direct(self, resid: torch.Tensor, writes: torch.Tensor) -> torch.Tensor:
        """Logits that `writes` (..., d_model) add directly, through the final norm with its scale
        frozen at the residual `resid` (broadcastable to writes) and the unembedding (no bias)."""
        norm, W_U = self._final_norm(), self._unembedding()
        w = norm.weight if getattr(norm, "weight", None) is not None else 1.0
        eps = getattr(norm, "eps", getattr(norm, "variance_epsilon", 1e-5))
        if isinstance(norm, nn.LayerNorm):
            scale = (resid.var(-1, unbiased=False, keepdim=True) + eps).sqrt()
            x = (writes - writes.mean(-1, keepdim=True)) / scale
        else:  # RMSNorm families
            x = writes / (resid.pow(2).mean(-1, keepdim=True) + eps).sqrt()
        return (x * w) @ W_U.T

    def final_residual(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(batch, pos, d_model): the residual stream as it enters the final norm."""
        captured = {}
        handle = self._final_norm().register_forward_pre_hook(
            lambda m, args: captured.__setitem__("x", args[0].detach()))
        try:
            self.run(input_ids)
        finally:
            handle.remove()
        return captured["x"]

    @contextlib.contextmanager
    def frozen(self):
        """No weight of the model takes a gradient inside the block (restored afterwards)."""
        params = list(self.model.parameters())
        was = [p.requires_grad for p in params]
        try:
            for p in params:
                p.requires_grad_(False)
            yield
        finally:
            for p, w in zip(params, was):
                p.requires_grad_(w)

    def _out_weight(self, layer: int) -> torch.Tensor:
        raise NotImplementedError

    def _final_norm(self) -> nn.Module:
        for name in FINAL_NORM_NAMES:
            try:
                return self.model.get_submodule(name)
            except AttributeError:
                continue
        raise AttnlabError(f"{self.label}: no final norm found (looked for {', '.join(FINAL_NORM_NAMES)})")

    def _unembedding(self) -> torch.Tensor:
        return self.model.get_output_embeddings().weight

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


def _parse_patch(patch) -> dict[tuple[int, str], object]:
    out = {}
    for n, fn in (patch or {}).items():
        m = PATCH.match(n)
        if not m:
            raise KeyError(f"cannot patch {n!r} (expected blocks.<l>.attn.hook_z, hook_q or hook_k)")
        out[(int(m.group(1)), m.group(2))] = fn
    return out


def _as_hook(fn):
    return lambda x, _hook: fn(x)


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

    def run(self, input_ids, names=(), ablate=None, patch=None, grad=False):
        from attnlab import hooks

        names = [n for _, _, n in _parse(names)]
        _parse_patch(patch)
        ctx = self.model.ablate_heads(ablate) if ablate else contextlib.nullcontext()
        fwd = [(n, _as_hook(fn)) for n, fn in (patch or {}).items()]
        with torch.set_grad_enabled(grad), ctx, hooks.hooks(self.model, fwd):
            out, cache = self.model.run_with_cache(input_ids, names=names, detach=not grad)
        return out.logits, {n: cache[n] for n in names}

    def _out_weight(self, layer):
        return self.model.blocks[layer].attn.c_proj.weight


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

    def _out_weight(self, layer):
        proj = self.out_proj[layer]
        W = proj.weight
        return W.T if type(proj).__name__ == "Conv1D" else W  # Conv1D (GPT-2) stores (in, out)

    def _qk_hooks(self, l: int, fns: dict) -> list:
        """Forward hooks applying patch functions to the queries / keys of layer l, before rotary
        positions: the outputs of q_proj / k_proj (Llama, Qwen2, Mistral) or the q, k thirds of
        GPT-2's c_attn."""
        attn_names = ("self_attn", "attn")
        layer = self.layers[l]
        attn = next((layer.get_submodule(a) for a in attn_names if hasattr(layer, a)), None)
        handles = []
        if attn is not None and hasattr(attn, "q_proj"):
            for kind, mod in (("hook_q", attn.q_proj), ("hook_k", attn.k_proj)):
                if kind in fns:
                    def hook(module, args, out, fn=fns[kind]):
                        B, T, D = out.shape
                        d = self.model.config.hidden_size // self.n_heads
                        return fn(out.view(B, T, D // d, d)).reshape(B, T, D)
                    handles.append(mod.register_forward_hook(hook))
        elif attn is not None and hasattr(attn, "c_attn"):
            def hook(module, args, out):
                B, T, D3 = out.shape
                D = D3 // 3
                q, k, v = out.split(D, -1)
                d = D // self.n_heads
                if "hook_q" in fns:
                    q = fns["hook_q"](q.reshape(B, T, self.n_heads, d)).reshape(B, T, D)
                if "hook_k" in fns:
                    k = fns["hook_k"](k.reshape(B, T, self.n_heads, d)).reshape(B, T, D)
                return torch.cat([q, k, v], -1)
            handles.append(attn.c_attn.register_forward_hook(hook))
        else:
            raise AttnlabError(f"{self.label}: no q_proj/k_proj or c_attn in layer {l}: cannot patch queries/keys")
        return handles

    def run(self, input_ids, names=(), ablate=None, patch=None, grad=False):
        with torch.set_grad_enabled(grad):
            return self._run(input_ids, names, ablate, _parse_patch(patch))

    def _run(self, input_ids, names, ablate, patches):
        wanted = _parse(names)
        cache: dict[str, torch.Tensor] = {}
        handles = []
        H = self.n_heads

        def z_hook(l, heads, store, fn):
            def hook(module, args):
                x = args[0]
                B, T, D = x.shape
                z = x.view(B, T, H, D // H)
                if heads:
                    z = z.clone()
                    z[:, :, heads] = 0.0
                if fn is not None:
                    z = fn(z)
                if store:
                    cache[f"blocks.{l}.attn.hook_z"] = z.detach().clone()
                return (z.reshape(B, T, D), *args[1:]) if heads or fn is not None else None
            return hook

        def mlp_hook(l):
            def hook(module, args, out):
                cache[f"blocks.{l}.hook_mlp_out"] = (out[0] if isinstance(out, tuple) else out)
            return hook

        def resid_hook(l):
            def hook(module, args, kwargs):
                x = args[0] if args else kwargs["hidden_states"]
                cache[f"blocks.{l}.hook_resid_pre"] = x
            return hook

        kinds = {(l, kind) for l, kind, _ in wanted}
        ablate = {int(l): list(hs) for l, hs in (ablate or {}).items() if hs}
        try:
            for l in range(self.n_layers):
                heads, store, fn = ablate.get(l, []), (l, "attn.hook_z") in kinds, patches.get((l, "hook_z"))
                if heads or store or fn is not None:
                    handles.append(self.out_proj[l].register_forward_pre_hook(z_hook(l, heads, store, fn)))
                qk = {k: f for (pl, k), f in patches.items() if pl == l and k != "hook_z"}
                if qk:
                    handles += self._qk_hooks(l, qk)
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
                    cache[n] = out.attentions[l]
        return out.logits, {n: cache[n] if torch.is_grad_enabled() else cache[n].detach() for _, _, n in wanted}


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

"""One face for every VLM (vlm_design §7): our model, or a local stock LLaVA under the same hook names.

    vlm = load_vlm("results/vlm/runs/base/seed0")        # or a llava-hf directory
    out, cache = vlm.run_with_cache(names=["language_model.blocks.3.attn.hook_pattern"],
                                    input_ids=ids, pixel_values=px)
    vlm.run_with_hooks(fwd_hooks=[("language_model.blocks.2.attn.hook_scores", fn)], input_ids=ids, ...)

Names (each a HookPoint: forward hooks `fn(activation, hook) -> activation | None` read or replace):
    vision_tower.blocks.{l}.attn.hook_scores | hook_pattern    (B, H, Q, K) logits before the mask / probabilities
    vision_tower.blocks.{l}.attn.hook_z                        (B, T, H, d_head) before the output projection
    vision_tower.blocks.{l}.hook_resid_pre | hook_attn_out | hook_mlp_out | hook_resid_post
    multi_modal_projector.hook_out                             (B, N, d_text) projected image features
    language_model.blocks.{l}.attn.hook_scores | hook_pattern | hook_z, and the four block hooks as above

Our model (model_type "attnlab_vlm") has them natively. A `LlavaForConditionalGeneration` directory
is loaded `local_files_only`, in fp32, with the attention function "attnlab_eager" (registered
here with transformers' AttentionInterface and AttentionMaskInterface): eager attention that runs
the layer's scores and probabilities through its `hook_scores` / `hook_pattern` points, so the same
score and pattern edits (PAINT, VAR, CausalMM) act on a real Llama-based LLaVA. Per-head outputs
come from a pre-hook on the output projection (o_proj / out_proj), residual and MLP outputs from
hooks on the decoder (encoder) layers. `position_ids` and 4-D attention masks pass through:
LlavaModel hands both to the language model, and transformers 5 uses a ready 4-D mask as is.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from attnlab import AttnlabError, hooks
from attnlab.hooks import HookPoint

ATTN_FUNCTION = "attnlab_eager"
OUT_PROJ_NAMES = ("self_attn.o_proj", "self_attn.out_proj", "attn.o_proj", "attn.out_proj")
ATTN_NAMES = ("self_attn", "attn")
MLP_NAMES = ("mlp", "feed_forward")


class VLMAdapter:
    """The interface every VLM analysis uses: `hook_points()`, `run_with_cache`, `run_with_hooks`,
    `__call__` (the model's forward), and the sizes below."""

    model: nn.Module
    n_layers_text: int
    n_layers_vision: int
    n_heads_text: int
    n_heads_vision: int
    image_token_id: int
    label: str = ""

    def hook_points(self) -> dict[str, HookPoint]:
        return self._points

    def __call__(self, **inputs):
        return self.model(**inputs)

    def run_with_hooks(self, fwd_hooks=(), **inputs):
        handles = []
        try:
            for name, fn in fwd_hooks:
                for n in hooks._select(self._points, name if callable(name) else [name]):
                    handles.append(self._points[n].add_hook(fn))
            return self.model(**inputs)
        finally:
            for h in handles:
                h.remove()

    def run_with_cache(self, names=None, detach: bool = True, **inputs):
        """`(output, {name: activation})`; names: None (all), a list, or a predicate."""
        cache: dict[str, torch.Tensor] = {}

        def store(x, hook):
            cache[hook.name] = x.detach() if detach else x

        out = self.run_with_hooks([(n, store) for n in hooks._select(self._points, names)], **inputs)
        return out, cache


class AttnVLMAdapter(VLMAdapter):
    """Our AttnVLMForConditionalGeneration: its own hook points carry the names."""

    def __init__(self, model, label: str = "attnlab_vlm"):
        self.model = model.eval()
        c = model.config
        self.n_layers_text, self.n_heads_text = c.text_config.n_layer, c.text_config.n_head
        self.n_layers_vision = c.vision_config.num_hidden_layers
        self.n_heads_vision = c.vision_config.num_attention_heads
        self.image_token_id, self.label = c.image_token_id, label
        self._points = model.hook_points()


def attnlab_eager(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """transformers' eager attention with the module's `attnlab_hook_scores` / `attnlab_hook_pattern`
    HookPoints (when the adapter installed them) on the logits before the mask and on the probabilities."""
    rep = query.shape[1] // key.shape[1]  # grouped-query attention: repeat the key/value heads
    if rep > 1:
        key, value = key.repeat_interleave(rep, 1), value.repeat_interleave(rep, 1)
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling
    hp = getattr(module, "attnlab_hook_scores", None)
    if hp is not None:
        scores = hp(scores)
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask[..., : key.shape[-2]]
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    hp = getattr(module, "attnlab_hook_pattern", None)
    if hp is not None:
        probs = hp(probs)
    probs = nn.functional.dropout(probs, p=dropout, training=module.training)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), probs


def register_attention_function() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(ATTN_FUNCTION, attnlab_eager)
    AttentionMaskInterface.register(ATTN_FUNCTION, eager_mask)


class LlavaAdapter(VLMAdapter):
    """A stock LlavaForConditionalGeneration (any vision tower whose encoder layers sit in one
    ModuleList: SigLIP, CLIP; any Llama-family language model), hooked under our names."""

    def __init__(self, model, label: str = "llava"):
        register_attention_function()
        model.set_attn_implementation(ATTN_FUNCTION)
        self.model = model.eval()
        c = model.config
        self.n_layers_text, self.n_heads_text = c.text_config.num_hidden_layers, c.text_config.num_attention_heads
        self.n_layers_vision = c.vision_config.num_hidden_layers
        self.n_heads_vision = c.vision_config.num_attention_heads
        self.image_token_id, self.label = c.image_token_id, label
        self._points: dict[str, HookPoint] = {}
        inner = getattr(model, "model", model)
        self._install("vision_tower", _layers(inner.vision_tower, self.n_layers_vision, label), self.n_heads_vision)
        self._install("language_model", _layers(inner.language_model, self.n_layers_text, label), self.n_heads_text)
        proj = self._point("multi_modal_projector.hook_out")
        inner.multi_modal_projector.register_forward_hook(lambda m, a, out: proj(out))

    def _point(self, name: str) -> HookPoint:
        hp = HookPoint()
        hp.name = name
        self._points[name] = hp
        return hp

    def _install(self, prefix: str, layers: nn.ModuleList, n_heads: int) -> None:
        for l, layer in enumerate(layers):
            p = f"{prefix}.blocks.{l}"
            attn = _find(layer, ATTN_NAMES, "attention", self.label)
            out_proj = _find(layer, OUT_PROJ_NAMES, "attention output projection", self.label)
            mlp = _find(layer, MLP_NAMES, "MLP", self.label)
            # attribute names that cannot clash with the model's own modules; the points are shared
            # with the name table, and have no parameters (the state dict is unchanged)
            attn.attnlab_hook_scores = self._point(f"{p}.attn.hook_scores")
            attn.attnlab_hook_pattern = self._point(f"{p}.attn.hook_pattern")
            z = self._point(f"{p}.attn.hook_z")
            pre, post = self._point(f"{p}.hook_resid_pre"), self._point(f"{p}.hook_resid_post")
            attn_out, mlp_out = self._point(f"{p}.hook_attn_out"), self._point(f"{p}.hook_mlp_out")

            def z_hook(module, args, z=z, H=n_heads):
                x = args[0]
                B, T, D = x.shape
                return (z(x.view(B, T, H, D // H)).reshape(B, T, D), *args[1:])

            def pre_hook(module, args, kwargs, pre=pre):
                if args:
                    return (pre(args[0]), *args[1:]), kwargs
                return args, {**kwargs, "hidden_states": pre(kwargs["hidden_states"])}

            out_proj.register_forward_pre_hook(z_hook)
            layer.register_forward_pre_hook(pre_hook, with_kwargs=True)
            layer.register_forward_hook(lambda m, a, out, hp=post: _map_first(out, hp))
            attn.register_forward_hook(lambda m, a, out, hp=attn_out: _map_first(out, hp))
            mlp.register_forward_hook(lambda m, a, out, hp=mlp_out: _map_first(out, hp))


def _map_first(out, fn):
    """Apply fn to a module's output, or to the first element of a tuple output."""
    if isinstance(out, tuple):
        return (fn(out[0]), *out[1:])
    return fn(out)


def _layers(module: nn.Module, n: int, label: str) -> nn.ModuleList:
    for _, m in module.named_modules():
        if isinstance(m, nn.ModuleList) and len(m) == n:
            return m
    raise AttnlabError(f"{label}: no list of {n} layers in {type(module).__name__}")


def _find(layer: nn.Module, names: tuple[str, ...], what: str, label: str) -> nn.Module:
    for name in names:
        try:
            return layer.get_submodule(name)
        except AttributeError:
            continue
    raise AttnlabError(f"{label}: no {what} in {type(layer).__name__} (looked for {', '.join(names)})")


def wrap(model, label: str | None = None) -> VLMAdapter:
    """A VLMAdapter around an already loaded model."""
    model_type = getattr(model.config, "model_type", None)
    if model_type == "attnlab_vlm":
        return AttnVLMAdapter(model, label or model_type)
    if model_type == "llava":
        return LlavaAdapter(model, label or model_type)
    raise AttnlabError(f"not a VLM this adapter knows: model_type {model_type!r} (attnlab_vlm or llava)")


def load_vlm(path: str | Path, label: str | None = None) -> VLMAdapter:
    """Our run directory or a local llava-hf directory (local_files_only, fp32), hooked under our names."""
    import attnlab.models  # noqa: F401  (registers our model with the Auto classes)

    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise AttnlabError(f"not a model directory (no config.json): {path}")
    model_type = json.loads(cfg_file.read_text()).get("model_type")
    if model_type == "attnlab_vlm":
        from attnlab.vlm.modeling import AttnVLMForConditionalGeneration

        return AttnVLMAdapter(AttnVLMForConditionalGeneration.from_pretrained(path), label or path.name)
    if model_type == "llava":
        from transformers import LlavaForConditionalGeneration

        register_attention_function()
        model = LlavaForConditionalGeneration.from_pretrained(path, local_files_only=True, dtype=torch.float32,
                                                              attn_implementation=ATTN_FUNCTION)
        return LlavaAdapter(model, label or path.name)
    raise AttnlabError(f"{cfg_file}: model_type {model_type!r} is not a VLM this adapter loads (attnlab_vlm or llava)")

"""The tiny LLaVA-style VLM (vlm_design §2): a bidirectional ViT of attnlab Blocks, a 2-layer MLP
projector and our causal LM, with the projected patches spliced into the token sequence at the
`<image>` placeholders (`masked_scatter`, as LlavaForConditionalGeneration).

Hook points (attnlab.hooks, TransformerLens names over the module tree):
    vision_tower.blocks.{l}.attn.hook_pattern | hook_z | hook_scores | hook_q | hook_k | hook_v
    vision_tower.blocks.{l}.hook_resid_pre | hook_attn_out | hook_mlp_out | hook_resid_post
    multi_modal_projector.hook_out                       (B, N image tokens, d_text)
    language_model.blocks.{l}.attn.hook_*, language_model.blocks.{l}.hook_*   (as AttnLMForCausalLM)

`generate()` runs the prompt (image spliced in) once and then one token a step through the LM's KV
cache, each new token with the position, type and structure row the whole sequence's TokenLayout
gives it (a language model whose attention takes no cache re-runs the prefix each step, with the
projected image features kept in the generation kwargs, so the ViT still runs once per sample).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.utils import ModelOutput

from attnlab import hooks
from attnlab.attention.base import Attention
from attnlab.attention.patterns import full_context
from attnlab.hooks import HookPoint
from attnlab.lm.modeling import MLP, AttnLMForCausalLM, Block
from attnlab.vlm.configuration import AttnViTConfig, AttnVLMConfig
from attnlab.vlm.layout import TokenLayout, needs_structure


class _HookAPI:
    """TransformerLens-style analysis API shared by the tower and the composite."""

    def hook_points(self) -> dict[str, HookPoint]:
        return hooks.name_hook_points(self)

    def run_with_cache(self, *args, names=None, **kwargs):
        """`(output, {hook name: activation})`; names: None (all), a list, or a predicate."""
        return hooks.run_with_cache(self, *args, names=names, **kwargs)

    def run_with_hooks(self, *args, fwd_hooks=(), **kwargs):
        return hooks.run_with_hooks(self, *args, fwd_hooks=fwd_hooks, **kwargs)


class AttnViTModel(_HookAPI, PreTrainedModel):
    """patch embedding (Conv, patch_size) + CLS + learned 2-D positions -> attnlab Blocks with
    bidirectional attention (structure = all ones) -> final LayerNorm.

    Output: `last_hidden_state` (after the final LN, CLS first), `pooler_output` (the CLS row of it),
    `hidden_states` (embeddings, then each block's output before the final LN, as HF towers)."""

    config_class = AttnViTConfig
    auto_class = "AutoModel"  # the Auto class attnlab.models registers it with
    base_model_prefix = "attnlab_vit"
    main_input_name = "pixel_values"
    _no_split_modules = ["Block"]

    def __init__(self, config: AttnViTConfig):
        super().__init__(config)
        d, G = config.n_embd, config.grid_size
        self.patch_embed = nn.Conv2d(config.num_channels, d, kernel_size=config.patch_size, stride=config.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_row = nn.Embedding(G, d)
        self.pos_col = nn.Embedding(G, d)
        self.blocks = nn.ModuleList([Block(config, i) for i in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(d, eps=config.layer_norm_epsilon)
        self.post_init()
        hooks.name_hook_points(self)

    def _init_weights(self, module):
        super()._init_weights(module)
        std = self.config.initializer_range
        if isinstance(module, AttnViTModel):
            init.normal_(module.cls_token, mean=0.0, std=std)
            init.normal_(module.pos_cls, mean=0.0, std=std)
        if isinstance(module, nn.Conv2d):
            init.normal_(module.weight, mean=0.0, std=std)
            init.zeros_(module.bias)
        if isinstance(module, (MLP, Attention)):
            init.normal_(module.c_proj.weight, mean=0.0, std=std / (2 * self.config.n_layer) ** 0.5)
        if isinstance(module, Attention):
            module.init_extra_parameters(init)

    def embed(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(pixel_values.to(self.patch_embed.weight.dtype))  # (B, d, G, G)
        B, d, G, _ = x.shape
        if G != self.config.grid_size:
            raise ValueError(f"pixel_values of size {tuple(pixel_values.shape[-2:])} give a {G}×{G} grid; "
                             f"the tower was built for image_size={self.config.image_size}")
        x = x.flatten(2).transpose(1, 2)  # (B, G*G, d), raster order
        r = torch.arange(G, device=x.device)
        pos = (self.pos_row(r)[:, None, :] + self.pos_col(r)[None, :, :]).reshape(G * G, d)
        cls = (self.cls_token + self.pos_cls).expand(B, 1, d)
        return torch.cat([cls, x + pos], 1)

    def forward(self, pixel_values: torch.Tensor | None = None, output_hidden_states: bool | None = None,
                output_attentions: bool | None = None, start_layer: int = 0,
                inputs_embeds: torch.Tensor | None = None, **kwargs) -> BaseModelOutputWithPooling:
        """`inputs_embeds` ((B, T, d), e.g. an earlier call's `hidden_states[start_layer]`) replaces the
        patch embedding and enters block `start_layer`: the blocks before it do not run (an analysis
        that edits only later layers resumes from the residual stream; the same numbers as a full
        pass). hidden_states / attentions then hold the blocks that ran."""
        if (inputs_embeds is None) == (pixel_values is None):
            raise ValueError("give pixel_values or inputs_embeds (the residual stream entering block start_layer)")
        if inputs_embeds is None and start_layer:
            raise ValueError("start_layer > 0 needs inputs_embeds: the residual stream entering that block")
        x = self.embed(pixel_values) if inputs_embeds is None else inputs_embeds
        B, T, _ = x.shape
        # noncausal self-attention (attnlab.attention.patterns): every mechanism takes its bidirectional form
        ctx = full_context(torch.arange(T, device=x.device).expand(B, T), output_attentions=bool(output_attentions))
        hidden, attentions = [x], []
        for block in self.blocks[start_layer:]:
            x, pattern = block(x, block.attn.prepare(ctx, None))
            hidden.append(x)
            attentions.append(pattern)
        last = self.ln_f(x)
        return BaseModelOutputWithPooling(last_hidden_state=last, pooler_output=last[:, 0],
                                          hidden_states=tuple(hidden) if output_hidden_states else None,
                                          attentions=tuple(attentions) if output_attentions else None)


class AttnVLMProjector(nn.Module):
    """Linear-GELU-Linear from the vision width to the LM width (LlavaMultiModalProjector's shape)."""

    def __init__(self, vision_hidden: int, text_hidden: int):
        super().__init__()
        self.linear_1 = nn.Linear(vision_hidden, text_hidden)
        self.linear_2 = nn.Linear(text_hidden, text_hidden)
        self.hook_out = HookPoint()

    def forward(self, x):
        return self.hook_out(self.linear_2(F.gelu(self.linear_1(x))))


@dataclass
class AttnVLMOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    lm_loss: torch.Tensor | None = None
    aux_loss: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    image_hidden_states: torch.Tensor | None = None  # the projected image features (B, N, d_text)
    cache: Cache | None = None  # the language model's KV cache (generation)


class AttnVLMForConditionalGeneration(_HookAPI, PreTrainedModel, GenerationMixin):
    config_class = AttnVLMConfig
    auto_class = "AutoModelForImageTextToText"  # and AutoModel (attnlab.models)
    base_model_prefix = "attnlab_vlm"
    main_input_name = "input_ids"
    _no_split_modules = ["Block"]

    def __init__(self, config: AttnVLMConfig):
        super().__init__(config)
        vc = config.vision_config
        if isinstance(vc, AttnViTConfig):
            self.vision_tower = AttnViTModel(vc)
        else:  # any HF vision tower (siglip_vision_model, clip_vision_model, vit); imported late, see autoregister
            from transformers import AutoModel
            self.vision_tower = AutoModel.from_config(vc)
        self.multi_modal_projector = AttnVLMProjector(vc.hidden_size, config.text_config.n_embd)
        self.language_model = AttnLMForCausalLM(config.text_config)
        self.post_init()
        hooks.name_hook_points(self)

    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self):
        return self.language_model.get_output_embeddings()

    # --- the image path ---------------------------------------------------------------------
    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> projected patch features (B, image_seq_length, d_text): the hidden state
        `vision_feature_layer` of the tower, CLS dropped under the "default" strategy."""
        out = self.vision_tower(pixel_values, output_hidden_states=True)
        feats = out.hidden_states[self.config.vision_feature_layer]
        if self.config.vision_feature_select_strategy == "default":
            feats = feats[:, 1:]
        return self.multi_modal_projector(feats)

    def token_layout(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                     labels: torch.Tensor | None = None, answer_start=None) -> TokenLayout:
        """The TokenLayout of a batch: the answer is where labels != -100 (training), else every
        position from `answer_start` on (generation: the prompt length)."""
        answer_mask = None if labels is None else labels != -100
        return TokenLayout.build(input_ids, self.config.image_token_id, self.config.grid_size,
                                 attention_mask=attention_mask, answer_mask=answer_mask, answer_start=answer_start)

    def forward(self, input_ids: torch.Tensor, pixel_values: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, image_features: torch.Tensor | None = None,
                structure_mask: torch.Tensor | None = None, token_type: torch.Tensor | None = None,
                answer_start=None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, logits_to_keep: int = 0, cache: Cache | None = None,
                use_cache: bool | None = None, **kwargs) -> AttnVLMOutput:
        """`pixel_values` (B, C, H, W), or `image_features` already projected (B, N, d_text), fill the
        `<image>` placeholders of `input_ids`. position_ids / structure_mask / token_type default to
        the ones the config's image_position_order / modality_mutual and the TokenLayout give.
        With a `cache` that already holds earlier positions, `input_ids` are the new tokens only and
        their position_ids, token_type (and structure_mask rows, when the config needs one) must be
        given: `prepare_inputs_for_generation` computes them from the whole sequence's layout."""
        if cache is not None and cache.get_seq_length() and (
                position_ids is None or token_type is None
                or (structure_mask is None and needs_structure(self.config.image_position_order,
                                                               self.config.modality_mutual))):
            raise ValueError("with a filled cache, give the new tokens' position_ids, token_type and structure_mask "
                             "(prepare_inputs_for_generation computes them from the whole sequence)")
        if image_features is None and pixel_values is not None:
            image_features = self.get_image_features(pixel_values)
        embeds = self.language_model.wte(input_ids)
        is_image = input_ids == self.config.image_token_id
        n_tokens = int(is_image.sum())
        if image_features is not None:
            if n_tokens != image_features.shape[0] * image_features.shape[1]:
                raise ValueError(f"{n_tokens} <image> tokens in input_ids, but {image_features.shape[0]} images "
                                 f"of {image_features.shape[1]} features")
            embeds = embeds.masked_scatter(is_image[..., None].expand_as(embeds), image_features.to(embeds.dtype))
        elif n_tokens:
            raise ValueError("input_ids hold <image> tokens but neither pixel_values nor image_features were given")
        layout = None
        if position_ids is None or token_type is None or (
                structure_mask is None and needs_structure(self.config.image_position_order, self.config.modality_mutual)):
            layout = self.token_layout(input_ids, attention_mask, labels, answer_start)
        if token_type is None:
            token_type = layout.token_type
        if position_ids is None:
            position_ids = layout.position_ids(self.config.image_position_order, attention_mask)
        if structure_mask is None and needs_structure(self.config.image_position_order, self.config.modality_mutual):
            structure_mask = layout.structure(position_ids, self.config.modality_mutual)
        out = self.language_model(input_ids=input_ids, inputs_embeds=embeds, attention_mask=attention_mask,
                                  position_ids=position_ids, labels=labels, structure_mask=structure_mask,
                                  token_type=token_type, output_attentions=output_attentions,
                                  output_hidden_states=output_hidden_states, logits_to_keep=logits_to_keep,
                                  cache=cache, use_cache=use_cache)
        return AttnVLMOutput(loss=out.loss, logits=out.logits, lm_loss=out.lm_loss, aux_loss=out.aux_loss,
                             hidden_states=out.hidden_states, attentions=out.attentions,
                             image_hidden_states=image_features, cache=out.cache)

    # --- generation: the prompt (image included) once, then one token a step with a KV cache -----
    def generate(self, input_ids=None, pixel_values=None, **kwargs):
        """GenerationMixin.generate with the prompt length as `answer_start` (so generated tokens
        are typed "answer") and the text config's special ids as defaults."""
        tc = self.config.text_config
        kwargs.setdefault("answer_start", input_ids.shape[1])
        for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
            if getattr(self.generation_config, key, None) is None:
                kwargs.setdefault(key, getattr(tc, key))
        return super().generate(input_ids=input_ids, pixel_values=pixel_values, **kwargs)

    def _supports_default_dynamic_cache(self) -> bool:
        return self.language_model.supports_kv_cache()

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, pixel_values=None,
                                      image_features=None, answer_start=None, cache=None, **kwargs):
        past = cache.get_seq_length() if cache is not None else 0
        if past:  # the new tokens only, placed by the whole sequence's layout
            layout = self.token_layout(input_ids, attention_mask, answer_start=answer_start)
            order, mutual = self.config.image_position_order, self.config.modality_mutual
            position_ids = layout.position_ids(order, attention_mask)
            inputs = {"input_ids": input_ids[:, past:], "attention_mask": attention_mask, "cache": cache,
                      "position_ids": position_ids[:, past:], "token_type": layout.token_type[:, past:]}
            if needs_structure(order, mutual):
                inputs["structure_mask"] = layout.structure(position_ids, mutual)[:, :, past:]
            return inputs
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "answer_start": answer_start}
        if cache is not None:
            inputs["cache"] = cache
        if image_features is not None:
            inputs["image_features"] = image_features
        else:
            inputs["pixel_values"] = pixel_values
        return inputs

    def _update_model_kwargs_for_generation(self, outputs, model_kwargs, *args, **kwargs):
        model_kwargs = super()._update_model_kwargs_for_generation(outputs, model_kwargs, *args, **kwargs)
        if getattr(outputs, "image_hidden_states", None) is not None:
            model_kwargs["image_features"] = outputs.image_hidden_states  # the ViT ran once
            model_kwargs["pixel_values"] = None
        return model_kwargs

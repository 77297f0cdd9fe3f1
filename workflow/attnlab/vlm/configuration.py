"""Configurations of the tiny VLM (vlm_design §2): the vision tower and the composite.

transformers 5 configs are dataclasses: fields with defaults, checked in `__post_init__`.
"""

from __future__ import annotations

from transformers import AutoConfig, PretrainedConfig
from transformers.configuration_utils import SubConfigSpec

IMAGE_POSITION_ORDERS = ("raster", "reversed", "concentric")
MODALITY_MUTUAL = ("none", "question")
FEATURE_SELECT = ("default", "full")


class AttnViTConfig(PretrainedConfig):
    """A small ViT whose blocks are attnlab Blocks (pre-LN, swappable attention) run bidirectionally.

    image_size/patch_size: square images cut into (image_size/patch_size)² patches, plus one CLS token
    attention/attention_options: as AttnLMConfig (a key of attnlab.attention.MECHANISMS)
    Positions are learned 2-D (a row table plus a column table) and one CLS position vector.
    """

    model_type = "attnlab_vit"
    base_config_key = "vision_config"
    attribute_map = {"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head"}

    image_size: int = 32
    patch_size: int = 4
    num_channels: int = 3
    n_embd: int = 128
    n_layer: int = 4
    n_head: int = 4
    mlp_ratio: int = 4
    attention: str = "softmax"
    attention_options: dict | None = None
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size={self.image_size} is not divisible by patch_size={self.patch_size}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        self.attention_options = dict(self.attention_options or {})
        super().__post_init__(**kwargs)

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size ** 2


class AttnVLMConfig(PretrainedConfig):
    """LLaVA-shaped composite: vision tower -> 2-layer MLP projector -> our causal LM, with the
    projected patches spliced into the token sequence at `<image>` placeholders.

    vision_config:  an AttnViTConfig, or any HF vision config (siglip_vision_model, clip_vision_model, vit)
    text_config:    an AttnLMConfig
    image_token_id: the `<image>` placeholder id; image_seq_length: placeholders per image (64 at 32×32)
    vision_feature_layer: which hidden state of the vision tower (-1: the last block's output)
    vision_feature_select_strategy: "default" drops CLS (as LLaVA), "full" keeps every token
    image_position_order: raster | reversed | concentric (CCA) rotary positions of the image tokens
    modality_mutual: none | question (AKI: image rows may also read the question's columns)
    """

    model_type = "attnlab_vlm"
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(config_class=AutoConfig, model_type="attnlab_vit"),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="attnlab_lm"),
    }

    vision_config: dict | PretrainedConfig | None = None
    text_config: dict | PretrainedConfig | None = None
    image_token_id: int = 4
    image_seq_length: int = 64
    vision_feature_layer: int = -1
    vision_feature_select_strategy: str = "default"
    image_position_order: str = "raster"
    modality_mutual: str = "none"
    tie_word_embeddings: bool = True

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.image_position_order not in IMAGE_POSITION_ORDERS:
            raise ValueError(f"image_position_order must be one of {IMAGE_POSITION_ORDERS}, "
                             f"got {self.image_position_order!r}")
        if self.modality_mutual not in MODALITY_MUTUAL:
            raise ValueError(f"modality_mutual must be one of {MODALITY_MUTUAL}, got {self.modality_mutual!r}")
        if self.vision_feature_select_strategy not in FEATURE_SELECT:
            raise ValueError(f"vision_feature_select_strategy must be one of {FEATURE_SELECT}, "
                             f"got {self.vision_feature_select_strategy!r}")
        if getattr(self.text_config, "model_type", None) == "attnlab_lm":
            if self.image_token_id >= self.text_config.vocab_size:
                raise ValueError(f"image_token_id={self.image_token_id} is outside the text vocabulary "
                                 f"(vocab_size={self.text_config.vocab_size})")
        side = int(round(self.image_seq_length ** 0.5))
        if self.image_position_order != "raster" and side * side != self.image_seq_length:
            raise ValueError(f"image_position_order={self.image_position_order!r} needs a square image grid, "
                             f"image_seq_length={self.image_seq_length}")

    @property
    def grid_size(self) -> int:
        return int(round(self.image_seq_length ** 0.5))

"""Configuration of the attnlab causal LM: a GPT-2-shaped decoder with a swappable attention.

transformers 5 configs are dataclasses: fields with defaults, checked in `__post_init__`.
"""

from __future__ import annotations

from transformers import PretrainedConfig

POSITION_ENCODINGS = ("learned", "rope", "none")


class AttnLMConfig(PretrainedConfig):
    """
    attention:          a key of `attnlab.attention.MECHANISMS` ("softmax", "moh", ...)
    attention_options:  keyword options of that mechanism (e.g. {"window": 32}, {"meta_token_id": 6})
    position_encoding:  "learned" (GPT-2's absolute table), "rope" or "none"
    gpt2_init:          True: GPT-2's init in every block whatever the mechanism (attn.c_proj and
                        mlp.c_proj ~ N(0, initializer_range/sqrt(2 n_layer)), and every attention's
                        init_extra_parameters run). False (default; every run so far): transformers 5
                        skips `_init_weights` for custom-code modules without parameters of their own,
                        so mlp.c_proj is never scaled and attn.c_proj only for mechanisms with their
                        own parameters or buffers (abc, decay, dynamic_mask, performer, rcmha,
                        superlinear), not softmax and the rest (bench/README.md, "Recall learnability").
    Special ids default to attnlab.tasks.vocab (PAD 0, BOS 1, EOS 7).
    """

    model_type = "attnlab_lm"
    attribute_map = {"hidden_size": "n_embd", "num_hidden_layers": "n_layer",
                     "num_attention_heads": "n_head", "max_position_embeddings": "n_positions"}

    vocab_size: int = 64
    n_positions: int = 256
    n_embd: int = 128
    n_layer: int = 4
    n_head: int = 4
    mlp_ratio: int = 4
    attention: str = "softmax"
    attention_options: dict | None = None
    position_encoding: str = "learned"
    rope_theta: float = 10000.0
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    gpt2_init: bool = False
    use_cache: bool = True  # generate() with a KV cache where every layer's mechanism takes one (attention kv_cache)
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | None = 7
    tie_word_embeddings: bool = True

    def __post_init__(self, **kwargs):
        if self.position_encoding not in POSITION_ENCODINGS:
            raise ValueError(f"position_encoding must be one of {POSITION_ENCODINGS}, got {self.position_encoding!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        self.attention_options = dict(self.attention_options or {})
        # run directories written before meta_token_id became an option of meta-attention
        legacy_meta_id = kwargs.pop("meta_token_id", None)
        if self.attention == "meta" and legacy_meta_id is not None:
            self.attention_options.setdefault("meta_token_id", legacy_meta_id)
        super().__post_init__(**kwargs)

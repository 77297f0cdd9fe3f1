"""Configuration of the attnlab encoder–decoder (and its encoder-only masked LM).

Each attention role names its own mechanism and options, so a mechanism can be swapped into one
pattern alone (CAB, arXiv 2210.07661: each efficient attention replaces vanilla only in the
pattern under test):

    encoder_attention / _options   encoder self-attention (bidirectional over real tokens)
    decoder_attention / _options   decoder self-attention (causal if `decoder_causal`, else bidirectional)
    cross_attention / _options     decoder-to-encoder cross-attention (every real encoder token visible)

Names are keys of `attnlab.attention.MECHANISMS`. Special ids default to attnlab.tasks.vocab
(PAD 0, BOS 1, EOS 7); the decoder starts from BOS.
"""

from __future__ import annotations

from transformers import PretrainedConfig

POSITION_ENCODINGS = ("learned", "rope", "none")
ROLES = ("encoder", "decoder", "cross")


class AttnSeq2SeqConfig(PretrainedConfig):
    model_type = "attnlab_seq2seq"
    attribute_map = {"hidden_size": "n_embd", "num_attention_heads": "n_head",
                     "num_hidden_layers": "n_encoder_layer", "max_position_embeddings": "n_positions"}

    vocab_size: int = 64
    n_positions: int = 128
    n_embd: int = 64
    n_encoder_layer: int = 2
    n_decoder_layer: int = 2
    n_head: int = 4
    mlp_ratio: int = 4
    encoder_attention: str = "softmax"
    encoder_attention_options: dict | None = None
    decoder_attention: str = "softmax"
    decoder_attention_options: dict | None = None
    cross_attention: str = "softmax"
    cross_attention_options: dict | None = None
    decoder_causal: bool = True  # False: the decoder sees all its inputs at once (no generation)
    position_encoding: str = "learned"
    rope_theta: float = 10000.0
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    use_cache: bool = False  # no KV cache: generate() re-runs the decoder prefix
    is_encoder_decoder: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | None = 7
    decoder_start_token_id: int | None = 1
    tie_word_embeddings: bool = True

    def __post_init__(self, **kwargs):
        if self.position_encoding not in POSITION_ENCODINGS:
            raise ValueError(f"position_encoding must be one of {POSITION_ENCODINGS}, got {self.position_encoding!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        for role in ROLES:
            key = f"{role}_attention_options"
            setattr(self, key, dict(getattr(self, key) or {}))
        super().__post_init__(**kwargs)

    def role(self, role: str) -> "AttentionRole":
        """What `attnlab.attention.build_attention` needs for one attention role."""
        if role not in ROLES:
            raise ValueError(f"attention role must be one of {ROLES}, got {role!r}")
        return AttentionRole(self.n_embd, self.n_head, getattr(self, f"{role}_attention"),
                             getattr(self, f"{role}_attention_options"))


class AttentionRole:
    """The fields of a config that `build_attention` reads, for one role of the encoder–decoder."""

    def __init__(self, n_embd: int, n_head: int, attention: str, attention_options: dict):
        self.n_embd, self.n_head, self.attention, self.attention_options = n_embd, n_head, attention, attention_options

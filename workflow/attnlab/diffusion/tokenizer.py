"""A word-level tokenizer over a closed vocabulary, wrapped as a transformers PreTrainedTokenizerFast.

CLIPTokenizer needs vocabulary files from the hub; our captions use a small closed vocabulary, so a
word-level model built with `tokenizers` is both sufficient and reproducible offline.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerFast

from attnlab import AttnlabError

SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)


def build_tokenizer(words: list[str], max_length: int) -> PreTrainedTokenizerFast:
    """Word-level tokenizer: ids 0-3 are [PAD] [UNK] [BOS] [EOS], then `words` (lower-cased, de-duplicated,
    in order). Text is lower-cased and split on whitespace and punctuation; every encoding is
    [BOS] words... [EOS], padded/truncated to `max_length` by the caller (padding="max_length")."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel

    if max_length < 3:
        raise AttnlabError(f"tokenizer max_length must be at least 3, got {max_length}")
    vocab: dict[str, int] = {tok: i for i, tok in enumerate(SPECIALS)}
    for w in words:
        w = str(w).lower()
        if not w or any(ch.isspace() for ch in w):
            raise AttnlabError(f"vocabulary word {w!r} is empty or contains whitespace")
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", BOS_ID), ("[EOS]", EOS_ID)])
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=max_length, pad_token="[PAD]", unk_token="[UNK]",
        bos_token="[BOS]", eos_token="[EOS]", padding_side="right", truncation_side="right")


def encode(tokenizer, prompts: list[str]):
    """Token ids (B, max_length) as a torch tensor: padded with [PAD] and truncated to the tokenizer's
    model_max_length (a truncated prompt keeps [BOS] and [EOS] and loses its last words)."""
    return tokenizer(list(prompts), padding="max_length", truncation=True,
                     max_length=tokenizer.model_max_length, return_tensors="pt").input_ids

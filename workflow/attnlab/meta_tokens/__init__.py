"""Meta-tokens with meta-attention (arXiv 2509.16278), shared/papers/meta_tokens.md."""

PAPER = "Language Modeling with Learned Meta-Tokens (arXiv 2509.16278)"

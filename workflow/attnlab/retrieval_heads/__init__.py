"""Retrieval heads (Wu et al., arXiv 2404.15574), shared/papers/retrieval_heads.md."""

PAPER = "Retrieval Head Mechanistically Explains Long-Context Factuality (Wu et al., arXiv 2404.15574)"

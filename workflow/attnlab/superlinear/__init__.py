"""Superlinear multi-step attention (arXiv 2601.18401), shared/papers/superlinear.md."""

PAPER = "Superlinear multi-step attention: O(L^{3/2}) span search (arXiv 2601.18401)"

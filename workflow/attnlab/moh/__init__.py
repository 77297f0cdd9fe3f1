"""MoH: Mixture-of-Head attention (arXiv 2410.11842), shared/papers/moh.md."""

PAPER = "MoH: Multi-Head Attention as Mixture-of-Head Attention (Jin et al., arXiv 2410.11842)"

"""Dynamic-mask attention, DMA (arXiv 2508.02124), shared/papers/dynamic_mask.md."""

PAPER = "Trainable Dynamic Mask Sparse Attention (Shi et al., arXiv 2508.02124)"

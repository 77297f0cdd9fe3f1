"""How attention heads work in vision transformers (arXiv 2303.13731), shared/papers/vit_heads.md:
head importance (single-head ablation, gradient importance, confidence), spatial attention
profiles and a pattern autoencoder, on the base VLM's stage-V vision tower (a substitute for DeiT /
ViT on ImageNet)."""

PAPER = "How Does Attention Work in Vision Transformers? A Visual Analytics Attempt (arXiv 2303.13731)"

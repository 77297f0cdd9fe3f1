"""MuCR (arXiv 2408.08105): siamese cause/effect image pairs from the image world's causal rule
families, generated with and without consistency attention, scored at MuCR's image and phrase
levels by a rule-engine reasoner (upper bound) and random choice (lower bound).

Substitute: the paper evaluates VLLMs on real images; we cannot run them."""

PAPER = "MuCR (arXiv 2408.08105)"
VARIANTS = ("vanilla", "consistent")

"""Envision (arXiv 2512.01816): four-stage causal process prompts over six domains, generated
frame by frame with and without cross-frame consistency attention (IR-style sharing from frame 1),
scored with Envision-Score's weights from sub-scores computed on the parsed frames.

Substitute: the paper ranks 15 text-to-image models with a VLM judge; we score our one tiny model
with the world parser against the rule's ground truth (aesthetic sub-scores are proxies)."""

PAPER = "Envision (arXiv 2512.01816)"
VARIANTS = ("vanilla", "consistent")

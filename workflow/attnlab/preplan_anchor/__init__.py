"""The preplan-and-anchor rhythm of attention (arXiv 2510.13554), shared/papers/preplan_anchor.md:
local and global heads, WAAD and FAI, on a tiny LM trained on Countdown-lite solver traces (a
substitute for Qwen reasoning models)."""

PAPER = "Attention Illuminates LLM Reasoning: The Preplan-and-Anchor Rhythm (arXiv 2510.13554)"

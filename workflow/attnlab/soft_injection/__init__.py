"""Soft injection of task embeddings (arXiv 2507.20906), shared/papers/soft_injection.md: per-head
task embeddings mixed into a zero-shot prompt's last token with fitted soft head-selection weights,
against 10-shot in-context learning, on a tiny LM trained on synthetic mapping tasks (a substitute
for 57 NLP tasks on 12 LLMs)."""

PAPER = "Soft injection of task embeddings outperforms prompt-based in-context learning (arXiv 2507.20906)"

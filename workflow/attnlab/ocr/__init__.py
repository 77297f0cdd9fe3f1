"""ocr — out-of-context reasoning in a one-layer attention-only transformer (arXiv 2506.10887)."""

PAPER = "Generalization or Hallucination? Out-of-context reasoning in transformers (arXiv 2506.10887)"

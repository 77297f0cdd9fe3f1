"""ocr — out-of-context reasoning in a one-layer attention-only transformer (arXiv 2506.10887)."""

PAPER = "Generalization or Hallucination? Out-of-context reasoning in transformers (arXiv 2506.10887)"


def run_id(parametrization: str, optimizer: str, head_dim: int | None = None) -> str:
    """The one name of a trained OCR configuration: `factorized-d16-adam`, `combined-gd`."""
    if parametrization == "factorized":
        return f"factorized-d{head_dim}-{optimizer}"
    if parametrization == "combined":
        return f"combined-{optimizer}"
    raise ValueError(f"unknown OCR parametrization {parametrization!r}")

"""pavlov — linear attention as a Hebbian associative memory and its capacity (arXiv 2508.08289)."""

PAPER = "Transformers through the lens of Pavlovian conditioning (arXiv 2508.08289)"

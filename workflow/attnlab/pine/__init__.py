"""PINE: eliminating position bias of LMs by position-invariant inference (Wang et al., arXiv
2407.01100, ICLR 2025), shared/papers/pine.md; a substitute on synthetic retrieval QA."""

PAPER = "Eliminating Position Bias of Language Models: A Mechanistic Approach (PINE; Wang et al., arXiv 2407.01100)"

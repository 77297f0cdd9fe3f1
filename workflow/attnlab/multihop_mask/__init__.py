"""Masking in multi-hop QA: context permutation and the bidirectional mask (arXiv 2505.11754, ACL
2025), shared/papers/multihop_mask.md; a substitute on synthetic two-hop QA."""

PAPER = ("Masking in Multi-hop QA: An Analysis of How Language Models Perform with Context Permutation "
         "(arXiv 2505.11754)")

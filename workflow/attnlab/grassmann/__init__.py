"""grassmann — "Attention is not what you need" (arXiv 2512.19428): the causal Grassmann flow layer
against a size-matched Transformer on generated Markov text (a substitute for Wikitext-2), and the
mixing layer's cost exponent against causal attention's."""

PAPER = "Attention is not what you need: Grassmann flows (arXiv 2512.19428)"

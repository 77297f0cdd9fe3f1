"""icl_regression — in-context linear regression with one layer of multi-head softmax attention
(arXiv 2503.12734)."""

PAPER = ("In-Context Linear Regression Demystified: training dynamics and mechanistic "
         "interpretability of multi-head softmax attention (arXiv 2503.12734)")

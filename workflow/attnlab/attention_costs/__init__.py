"""attention_costs — the cost curve of every attention mechanism the project has: CPU time and
saved activation memory of one attention layer against sequence length, the measured log-log
exponent beside the mechanism's theory and our implementation's, and the crossover with dense
attention."""

PAPER = "attnlab's attention mechanisms: measured cost exponents (no single paper)"

"""Circuit component reuse (Merullo et al., arXiv 2310.08744) and circuit analysis at scale
(Lieberum et al., arXiv 2307.09458), shared/papers/circuits.md: one tiny LM trained on IOI-lite,
CO-lite, MCQ-lite and a Markov control, its circuits found by mean ablation, compared across tasks,
its output heads by direct logit attribution, and a low-rank test of the top correct-letter head."""

PAPER = ("Circuit component reuse across tasks (Merullo et al., arXiv 2310.08744); Does circuit analysis "
         "interpretability scale? (Lieberum et al., arXiv 2307.09458)")

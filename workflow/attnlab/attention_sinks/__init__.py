"""Attention sinks, primary (Gu et al., arXiv 2410.10781) and secondary (Wong et al., arXiv
2512.22213), shared/papers/attention_sinks.md."""

PAPER = ("When Attention Sink Emerges in Language Models (Gu et al., arXiv 2410.10781); "
         "secondary sinks: Wong et al., arXiv 2512.22213")

"""Attention-head analysis: pure metrics over named activations, and the adapters that name them.

One module per metric, each a set of pure functions over arrays (numpy; torch tensors convert):
  retrieval  retrieval score of Wu et al. (arXiv 2404.15574) and the retrieval-head set
  ablation   which heads to mask: top-K retrieval heads vs K random non-retrieval heads
  sinks      importance α, Sink_k^ε (Gu et al., arXiv 2410.10781), secondary sinks (Wong et al.)
  patterns   per-head attention entropy and mean attention distance
`adapters` gives every model, ours or any local Hugging Face causal LM, the same named
activations (TransformerLens names: blocks.{l}.attn.hook_pattern, hook_z, blocks.{l}.hook_mlp_out,
blocks.{l}.hook_resid_pre) and a per-head ablation hook; `decode` runs greedy decoding over it.
`needle_suite` and `sink_suite` run the metrics over a whole data set for one model; the steps
`retrieval_step`, `sink_step` (any model, by path) and `external_table` are what the rules call.
`external` validates the `heads.external_models` config (no torch: it runs at parse time).
"""

"""Exact multi-head attention split over processes with `torch.distributed` (spec:
shared/papers/distributed_attention.md; Hè & Kabic, arXiv 2302.06218), one module per method:

- `head_parallel`: Megatron-style; rank r holds heads [rH/P, (r+1)H/P) of W_qkv and W_O, outputs
  are summed with all_reduce.
- `ring`: sequence-parallel; rank r holds block r of the queries and K/V, the K/V blocks travel
  round the ring in P-1 send/recv steps and the partial results merge by online softmax.
- `ulysses`: all_to_all reshards sequence-sharded q/k/v to head-sharded, full attention runs per
  head group, all_to_all shards the output back.

Every method equals `dense.dense_attention` (one process) in the forward and backward pass.
`comm.Counter` counts the score-buffer elements each rank materialises and the bytes it sends, for
the spec's D2/D3 formulas (`analytic`). `python -m attnlab.distributed.check` under torchrun runs
the checks and prints a JSON of measurements. Nothing here imports transformers.
"""

# Attention-head analysis (envs/analysis.yaml): retrieval heads and sinks add their rules here.

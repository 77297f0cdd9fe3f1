"""heads.external_models: the head analyses of retrieval_heads and attention_sinks on a user's local
Hugging Face causal LM (steps in plan.py; the analysis code is attnlab.heads)."""

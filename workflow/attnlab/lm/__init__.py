"""The attnlab causal LM family (configuration, modeling, hook points)."""

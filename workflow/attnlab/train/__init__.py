"""Training: a plain loop (AdamW, warm-up + cosine, clipping) with resumable safetensors checkpoints."""

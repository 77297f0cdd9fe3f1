"""A tiny vision-language model on the image world (design: shared/papers/vlm_design.md).

Modules: data (the VLM-world generator: tasks, co-occurrence prior, POPE splits, patch indices),
metrics (CHAIR, POPE, VQA exact match against the scene graph). Importing this package is cheap.
"""

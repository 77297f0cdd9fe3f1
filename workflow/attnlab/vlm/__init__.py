"""A tiny vision-language model on the image world (design: shared/papers/vlm_design.md).

Modules:
- configuration: AttnViTConfig, AttnVLMConfig (model_type "attnlab_vit", "attnlab_vlm");
- modeling: AttnViTModel, AttnVLMProjector, AttnVLMForConditionalGeneration;
- layout: TokenLayout, the image position orders (raster / reversed / concentric), the structure mask;
- processor: the word-level tokenizer + <image>, LlavaProcessor over ViTImageProcessorPil;
- adapters: load_vlm(path), our model or a local LlavaForConditionalGeneration under the same hook names;
- train: the training stages V / T / A / S;
- data (the VLM-world generator: tasks, co-occurrence prior, POPE splits, patch indices), synth (its
  step) and metrics (CHAIR, POPE, VQA exact match against the scene graph).
Importing this package is cheap (this file imports nothing).
"""

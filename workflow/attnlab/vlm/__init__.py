"""A tiny LLaVA-style vision-language model on the image world (design: shared/papers/vlm_design.md).

configuration   AttnViTConfig, AttnVLMConfig (model_type "attnlab_vit", "attnlab_vlm")
modeling        AttnViTModel, AttnVLMProjector, AttnVLMForConditionalGeneration
layout          TokenLayout, image position orders, the structure mask
processor       the word-level tokenizer + <image>, LlavaProcessor over ViTImageProcessorPil
adapters        load_vlm(path): our model or a local LlavaForConditionalGeneration under the same hook names
train           the training stages V / T / A / S
data, metrics   the VLM-world generator and CHAIR / POPE / VQA
"""

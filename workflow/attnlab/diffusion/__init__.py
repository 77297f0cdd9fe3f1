"""A tiny text-to-image diffusion model for the image world, and IR-Diffusion's attention processors.

Modules:
- `tokenizer`: a word-level tokenizer (PreTrainedTokenizerFast) over the world's vocabulary.
- `model`: `TinyT2IConfig`, `build`, `save_pipeline` / `load_pipeline` in the Stable Diffusion folder
  layout (model_index.json, unet/, text_encoder/, tokenizer/, scheduler/, optionally vae/).
- `train`: DDPM epsilon training with EMA and caption dropout; the `train` workflow step.
- `sample`: DDIM sampling with classifier-free guidance (pixel space, or latent space with a vae).
- `ir_attention`: IR-Diffusion's sharing / isolation / reposition attention as diffusers processors
  and their state (`IRState`, `variant_state`, `install`).
- `generate`: generation with those processors: `generate_consistent`, `reference_images`,
  `generate_sequence`.

Importing the package is cheap; each module imports torch/diffusers itself.
"""

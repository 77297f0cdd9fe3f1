"""What the vision experiments (image_world, ir_diffusion, mucr, envision) share.

Modules:
- `plan`: paths and params of the shared steps (the world training set, the text-to-image model
  every vision experiment samples from) and of consistent generation; parse-time path checks.
- `synth`: the workflow step writing the text-to-image model's training set.
- `images`: generated images on disk (PNG files + a Parquet index).
- `masks`: subject masks of a generated image (the detector + segmenter stand-in).
- `consistency`: batched plain drawing and consistent regeneration of multi-subject cases and
  sequences (IR attention through `attnlab.diffusion.generate`).

The world itself (scenes, renders, parser, rules, metrics, benchmark schemas) is `attnlab.world`;
the model, its sampler and IR-Diffusion's attention processors are `attnlab.diffusion`.
"""

# Image generation with diffusers (envs/diffusion.yaml): the vision track adds its rules here.

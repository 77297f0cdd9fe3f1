"""The image world as an experiment: the shared text-to-image model every vision experiment samples
from (trained here from world renders, or a local Stable Diffusion directory named in the config),
the parser validated against ground truth, and the model's caption accuracy on fresh scenes.

Substitute: the world, its parser and the tiny model stand in for real photographs, a
detector + segmenter and a pretrained text-to-image model (shared/papers/image_world.md)."""

PAPER = "image world (shared ground truth of the vision track; shared/papers/image_world.md)"

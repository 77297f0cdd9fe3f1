"""The image world: rendered scenes of coloured shapes whose ground truth we own.

Modules: scene (scene graphs), render (images + masks + boxes), caption (captions, VOCAB),
parser (image -> scene graph; scored against renders by attnlab.image_world.validate),
rules (causal rule families), metrics (caption accuracy, consistency, fusion),
mucr and envision_prompts (benchmark schemas), envision_score (Envision-Score),
dataset (the text-to-image training set). Pure numpy + PIL; importing it is cheap.
"""

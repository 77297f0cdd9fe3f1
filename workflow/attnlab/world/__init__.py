"""The image world: rendered scenes of coloured shapes whose ground truth we own.

Modules: scene (scene graphs), render (images + masks + boxes), caption (captions, VOCAB),
parser (image -> scene graph, validated against renders), rules (causal rule families),
metrics (caption accuracy, consistency, fusion), mucr and envision (benchmark schemas),
dataset (the text-to-image training set). Pure numpy + PIL; importing it is cheap.
"""

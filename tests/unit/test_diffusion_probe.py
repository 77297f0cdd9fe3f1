"""The denoising probe of caption use: altered captions, and the loss on hand-made cases."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from attnlab.diffusion.model import build
from attnlab.diffusion.probe import ATTRIBUTES, altered, caption_use, denoising_loss
from attnlab.world.caption import VOCAB, caption
from attnlab.world.render import render
from attnlab.world.scene import Scene, Subject
from tests.fixtures import TINY_T2I

torch.set_num_threads(1)

TINY = TINY_T2I
SCENE = Scene([Subject("circle", "red", 0.2, 0.2, 0.5), Subject("square", "blue", 0.15, 0.8, 0.8)], "day")


def test_altered_changes_one_word_of_the_caption():
    own = caption(SCENE)
    assert own == "a red circle on the left and a blue square on the bottom right in the day"
    assert caption(altered(SCENE, "colour")) == own.replace("red", "yellow")
    assert caption(altered(SCENE, "shape")) == own.replace("circle", "square", 1)
    assert caption(altered(SCENE, "position")) == own.replace("on the left", "on the right", 1)
    assert caption(altered(SCENE, "background")) == own.replace("in the day", "at night")
    centred = Scene([Subject("circle", "red", 0.2, 0.5, 0.5)], "fog")
    assert caption(altered(centred, "position")) == "a red circle on the top left in fog"
    assert caption(altered(centred, "background")).endswith("in the day")
    with pytest.raises(ValueError, match="unknown attribute"):
        altered(SCENE, "size")
    with pytest.raises(ValueError, match="without subjects"):
        altered(Scene([], "day"), "colour")


class ZeroUNet(torch.nn.Module):
    """Predicts 0 everywhere: the loss is then the mean square of the target."""

    config = SimpleNamespace(in_channels=3, out_channels=3, sample_size=8)
    device = torch.device("cpu")

    def forward(self, x, t, encoder_hidden_states=None):
        return SimpleNamespace(sample=torch.zeros_like(x))


def test_the_loss_is_the_error_to_the_target_of_the_prediction_type():
    comps = build({**TINY, "prediction_type": "sample"}, VOCAB, seed=0)
    comps["unet"] = ZeroUNet()
    white = np.full((2, 8, 8, 3), 255, np.uint8)  # pixels +1: the "sample" target's square is 1
    assert denoising_loss(comps, white, ["", ""], [10, 900], seed=0) == {10: 1.0, 900: 1.0}
    comps = build({**TINY, "prediction_type": "epsilon"}, VOCAB, seed=0)
    comps["unet"] = ZeroUNet()
    loss = denoising_loss(comps, white, ["", ""], [500], seed=3)[500]
    assert loss == pytest.approx(1.0, abs=0.3)  # the noise's mean square, 384 draws


def test_caption_use_on_a_model_that_reads_text():
    """An untrained model's loss already moves with its caption (text reaches the UNet), equal
    prompts give equal losses (same noise), and every variant is there."""
    comps = build({**TINY, "prediction_type": "v_prediction"}, VOCAB, seed=0)
    scenes = [SCENE, Scene([Subject("triangle", "green", 0.2, 0.5, 0.2)], "night")]
    images = np.stack([render(s, 8).image for s in scenes])
    use = caption_use(comps, scenes, images, timesteps=(300, 900), seed=1)
    assert list(use) == ["own", *ATTRIBUTES, "empty"]
    assert use["own"] == caption_use(comps, scenes, images, timesteps=(300, 900), seed=1)["own"]
    # the images encoded once for every variant: each row is denoising_loss of its captions
    assert use["own"] == denoising_loss(comps, images, [caption(s) for s in scenes], (300, 900), seed=1)
    assert use["colour"] == denoising_loss(comps, images, [caption(altered(s, "colour")) for s in scenes], (300, 900), seed=1)
    assert use["empty"][900] != use["own"][900] and use["colour"][900] != use["own"][900]


def test_the_workflow_probe_writes_every_variant_and_the_table_reads_it_as_a_rise(tmp_path):
    """image_world's probe step on a saved tiny model: JSON with string timesteps, the same numbers on a
    rerun; the table's note shows each variant's rise over the own caption's loss."""
    from attnlab.cli import parse
    from attnlab.diffusion.model import save_pipeline
    from attnlab.image_world import probe as probe_step
    from attnlab.image_world.table import caption_use_note
    from attnlab.io import read_json

    save_pipeline(build(TINY, VOCAB, seed=0), tmp_path / "m")
    params = {"n": 3, "seed": 5, "size": 8, "timesteps": [300, 900], "subject_sizes": None, "device": "cpu"}
    outs = []
    for i in range(2):
        out = tmp_path / f"use{i}.json"
        probe_step.main(parse(["--input", "model", str(tmp_path / "m"), "--output", "caption_use", str(out),
                               "--params", json.dumps(params)]))
        outs.append(read_json(out))
    use = outs[0]
    assert outs[0] == outs[1] and use["n"] == 3 and use["timesteps"] == [300, 900]
    assert list(use["loss"]) == ["own", *ATTRIBUTES, "empty"] and list(use["loss"]["own"]) == ["300", "900"]
    hand = {"n": 2, "timesteps": [950], "loss": {"own": {"950": 0.25}, "colour": {"950": 0.75}, "shape": {"950": 0.25}}}
    note = caption_use_note(hand)
    assert "t = 950: colour +0.5000, shape +0.0000 (own caption 0.2500)" in note and "2 fresh" in note

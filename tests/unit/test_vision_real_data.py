"""Real MuCR Parquet and Envision JSON files, given by path, flow through the same synth,
generation, evaluation and table steps as our synthetic ones (small files in the datasets' exact
schemas, written here; a tiny untrained pipeline saved to disk stands in for the model)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from attnlab.cli import parse
from attnlab.diffusion.model import build, save_pipeline
from attnlab.io import read_json, read_parquet, write_parquet
from attnlab.world.caption import VOCAB
from attnlab.world.render import to_png
from tests.fixtures import TINY_T2I
from tests.unit.test_diffusion_latent import sd_dir  # noqa: F401  (fixture: a fake local SD folder)

TINY = {**TINY_T2I, "image_size": 16, "heads": 1, "text_heads": 1}
SAMPLING = {"steps": 2, "guidance": 2.0, "layers": "all", "token_dropout": 0.5, "ref_bias": 3.0}
COMMON = {"scale": "test", "base_seed": 0, "seeds": [0], "config_hash": "test", "threads": 1, "bootstrap": 200,
          "deviations": []}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("model")
    save_pipeline(build(TINY, VOCAB, seed=0), path)
    return str(path)


def run(module, inputs: dict, outputs: dict, params: dict) -> None:
    argv = []
    for flag, table in (("--input", inputs), ("--output", outputs)):
        for name, paths in table.items():
            argv += [flag, name, *([paths] if isinstance(paths, str) else paths)]
    module.main(parse(argv + ["--params", json.dumps(params)]))


def photo(rng) -> dict:
    img = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    return {"bytes": to_png(img), "path": None}


def test_real_mucr_parquet_runs_through(tmp_path, model_dir):
    from attnlab.mucr import evaluate, generate, synth, table

    rng = np.random.default_rng(0)
    real = pd.DataFrame([{
        "id": f"mucr_{i}", "style": "photograph", "cause": "a man running in heavy rain",
        "effect": "the same man sitting ill on a bench", "cue": "catch cold",
        "false_cue": ["win a race", "lose a shoe", "meet a friend"], "label": "human",
        "causal_reason": "running in the rain makes him catch cold",
        "image_0": photo(rng), "image_1": photo(rng)} for i in range(4)])
    write_parquet(tmp_path / "mucr.parquet", real)
    pairs, images, r = tmp_path / "pairs.parquet", tmp_path / "images" / "seed0", tmp_path / "r"
    run(synth, {}, {"pairs": str(pairs)}, {"n_pairs": 4, "real_path": str(tmp_path / "mucr.parquet"),
                                           "size": 16, "seed": 1})
    assert list(read_parquet(pairs)["id"]) == [f"mucr_{i}" for i in range(4)]
    run(generate, {"model": model_dir, "pairs": str(pairs)}, {"images": str(images)},
        {**SAMPLING, "seed_index": 0, "seed": 3})
    outs = {"levels": str(r / "levels.parquet"), "pairs": str(r / "pairs.parquet"), "claims": str(r / "c.json")}
    run(evaluate, {"pairs": str(pairs), "images": [str(images)]}, outs, {**COMMON, "reasoner_seed": 5, "real": True})
    claims = {c["claim"][:20]: c["verdict"] for c in read_json(r / "c.json")["claims"]}
    assert list(claims.values())[0] == "INCONCLUSIVE"  # no scene graphs: pair validity is undefined
    levels = read_parquet(r / "levels.parquet")
    assert set(levels["source"]) == {"truth", "vanilla", "consistent"} and levels["accuracy"].between(0, 1).all()
    run(table, {**{k: outs[k] for k in ("levels", "pairs", "claims")}, "images": [str(images)]},
        {"md": str(r / "t.md"), "csv": str(r / "t.csv"), "tex": str(r / "t.tex"), "html": str(r / "t.html"),
         "samples_fig": str(r / "s.png")}, COMMON)
    assert "mucr" in (r / "t.md").read_text() and (r / "s.png").stat().st_size > 0


def test_real_envision_json_runs_through(tmp_path, model_dir):
    from attnlab.envision import evaluate, generate, synth, table

    real = [{"index": i, "category": cat, "process_type": "melting",
             "prompts": [{"step": k, "prompt": f"This is the {k}th event frame of a continuous four-stage event "
                                                f"sequence showing ice melting on a table.",
                          "explanation": "heat melts ice"} for k in range(1, 5)]}
            for i, cat in enumerate(["Physics", "Chemistry"])]
    (tmp_path / "envision.json").write_text(json.dumps(real))
    prompts, truth, images, r = (tmp_path / "p.json", tmp_path / "t.json", tmp_path / "images" / "seed0",
                                 tmp_path / "r")
    run(synth, {}, {"prompts": str(prompts), "truth": str(truth)},
        {"n_prompts": 2, "real_path": str(tmp_path / "envision.json"), "size": 16, "seed": 1})
    assert read_json(prompts) == real and read_json(truth) == {}
    run(generate, {"model": model_dir, "prompts": str(prompts), "truth": str(truth)}, {"images": str(images)},
        {**SAMPLING, "seed_index": 0, "seed": 3})
    outs = {"scores": str(r / "scores.parquet"), "claims": str(r / "c.json")}
    run(evaluate, {"prompts": str(prompts), "truth": str(truth), "images": [str(images)]}, outs,
        {**COMMON, "real": True})
    scores = read_parquet(r / "scores.parquet")
    assert scores["semantic"].isna().all() and scores["authenticity"].notna().all()  # no ground truth
    assert [c["verdict"] for c in read_json(r / "c.json")["claims"]][:2] == ["INCONCLUSIVE", "INCONCLUSIVE"]
    run(table, {"scores": outs["scores"], "claims": outs["claims"], "images": [str(images)]},
        {"md": str(r / "t.md"), "csv": str(r / "t.csv"), "tex": str(r / "t.tex"), "html": str(r / "t.html"),
         "samples_fig": str(r / "s.png"), "scores_fig": str(r / "f.png")}, COMMON)
    assert "Envision-Score" in (r / "t.md").read_text()


def test_bad_real_files_are_named(tmp_path):
    from attnlab import AttnlabError
    from attnlab.world.envision_prompts import read_envision
    from attnlab.world.mucr import read_mucr

    write_parquet(tmp_path / "bad.parquet", pd.DataFrame({"id": ["x"], "cause": ["y"]}))
    with pytest.raises(AttnlabError, match="bad.parquet.*missing columns"):
        read_mucr(tmp_path / "bad.parquet")
    (tmp_path / "bad.json").write_text(json.dumps([{"index": 0, "category": "Physics"}]))
    with pytest.raises(AttnlabError, match="bad.json"):
        read_envision(tmp_path / "bad.json")


def test_generation_runs_from_a_local_stable_diffusion_folder(tmp_path, sd_dir):  # noqa: F811 (the fixture)
    """vision.model.path: the same generation step samples from a local SD folder (latent space,
    CLIP BPE tokenizer, its own scheduler), loaded with local files only."""
    from attnlab.ir_diffusion import generate
    from attnlab.ir_diffusion.synth import synthesize
    from attnlab.vision.images import read_image_dir

    cases = tmp_path / "cases.parquet"
    write_parquet(cases, synthesize([1, 2], 1, seed=0))
    run(generate, {"model": str(sd_dir), "cases": str(cases)}, {"images": str(tmp_path / "img")},
        {**SAMPLING, "seed_index": 0, "seed": 1, "variants": ["vanilla", "full"]})
    df = read_image_dir(tmp_path / "img")
    assert len(df) == 2 * (2 + 3) and {im.shape for im in df["image"]} == {(16, 16, 3)}

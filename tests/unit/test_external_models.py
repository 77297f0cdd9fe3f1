"""Any local Hugging Face causal LM: tiny GPT-2, Llama and Qwen2 models built from configs, saved,
and analysed by path; the adapter's names and ablation hook checked against the models' own
weights; the `heads.external_models` config check."""

import json

import pandas as pd
import pytest
import torch

from attnlab.config import ConfigError
from attnlab.heads.adapters import load_head_model, wrap
from attnlab.heads.external import validate_external_models
from attnlab.tasks import TASKS

transformers = pytest.importorskip("transformers")

TINY = dict(vocab_size=64, bos_token_id=1, eos_token_id=2, pad_token_id=0)


def build(arch: str):
    torch.manual_seed(0)
    if arch == "gpt2":
        cfg = transformers.GPT2Config(n_positions=64, n_embd=32, n_layer=2, n_head=4, **TINY)
        return transformers.GPT2LMHeadModel(cfg)
    common = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, **TINY)
    if arch == "llama":
        return transformers.LlamaForCausalLM(transformers.LlamaConfig(**common))
    return transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**common))


@pytest.fixture(scope="module", params=["gpt2", "llama", "qwen2"])
def saved(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param)
    build(request.param).save_pretrained(path)
    return request.param, path


def zero_head_weights(model, arch, layer, head, d_head):
    """The reference ablation: zero the head's slice of the output projection's weights."""
    sl = slice(head * d_head, (head + 1) * d_head)
    with torch.no_grad():
        if arch == "gpt2":
            model.transformer.h[layer].attn.c_proj.weight[sl, :] = 0  # Conv1D: (in, out)
        else:
            model.model.layers[layer].self_attn.o_proj.weight[:, sl] = 0  # Linear: (out, in)


def test_named_activations_and_ablation_match_the_weights(saved):
    arch, path = saved
    hm = load_head_model(path)
    assert (hm.n_layers, hm.n_heads) == (2, 4)
    ids = torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(1))
    names = hm.pattern_names() + ["blocks.1.attn.hook_z", "blocks.1.hook_mlp_out", "blocks.1.hook_resid_pre"]
    logits, cache = hm.run(ids, names)
    P = cache["blocks.0.attn.hook_pattern"]
    assert P.shape == (2, 4, 12, 12)
    torch.testing.assert_close(P.sum(-1), torch.ones(2, 4, 12))
    assert torch.all(P.triu(1) == 0)  # causal
    assert cache["blocks.1.attn.hook_z"].shape == (2, 12, 4, 8)
    assert cache["blocks.1.hook_mlp_out"].shape == cache["blocks.1.hook_resid_pre"].shape == (2, 12, 32)

    ablated, cache2 = hm.run(ids, ["blocks.1.attn.hook_z"], ablate={1: [2]})
    assert torch.all(cache2["blocks.1.attn.hook_z"][:, :, 2] == 0)
    assert not torch.allclose(ablated, logits)
    ref = build(arch)
    zero_head_weights(ref, arch, 1, 2, 8)
    ref = wrap(ref)
    torch.testing.assert_close(ref.run(ids)[0], ablated, rtol=1e-5, atol=1e-5)
    # hooks are gone afterwards
    torch.testing.assert_close(hm.run(ids)[0], logits)


def test_our_model_through_the_adapter_matches_its_own_hooks():
    from attnlab.lm.configuration import AttnLMConfig
    from attnlab.lm.modeling import AttnLMForCausalLM

    torch.manual_seed(0)
    model = AttnLMForCausalLM(AttnLMConfig(vocab_size=32, n_positions=16, n_embd=32, n_layer=2, n_head=4))
    hm = wrap(model)
    ids = torch.randint(0, 32, (2, 10))
    logits, cache = hm.run(ids, hm.pattern_names(), ablate={0: [1, 3]})
    with model.ablate_heads({0: [1, 3]}):
        ref = model(ids, output_attentions=True)
    torch.testing.assert_close(logits, ref.logits)
    torch.testing.assert_close(cache["blocks.1.attn.hook_pattern"], ref.attentions[1])


def needle_frame():
    return TASKS["needle"].generate(2, 0, lengths=[24, 32], depths=[0.0, 0.5, 1.0], n_keys=4, n_values=4,
                                    n_filler=8, key_len=1, value_len=2)


def test_every_analysis_runs_on_a_saved_model_by_path(saved, tmp_path):
    from attnlab.cli import run_step
    from attnlab.heads import external_table, retrieval_step, sink_step
    from attnlab.io import write_parquet

    arch, path = saved
    write_parquet(tmp_path / "needles.parquet", needle_frame())
    write_parquet(tmp_path / "text.parquet", TASKS["trigger"].generate(6, 0, seq_len=24, n_states=8, n_triggers=2))
    out = {n: str(tmp_path / f"r_{n}.parquet") for n in ("heads", "ablation", "maps", "samples")}
    params = {"key_len": 1, "value_len": 2, "ks": [1, 2], "n_draws": 2, "seed": 0, "batch_size": 4, "token_offset": 10}
    run_step(retrieval_step.main, argv=["--input", "model", str(path / "config.json"), "--input", "data",
                                        str(tmp_path / "needles.parquet"), *sum((["--output", k, v] for k, v in out.items()), []),
                                        "--params", json.dumps(params)])
    heads = pd.read_parquet(out["heads"])
    assert len(heads) == 8 and heads.retrieval_score.between(0, 1).all()
    abl = pd.read_parquet(out["ablation"])
    assert set(abl.condition) == {"none", "top", "random"} and abl.accuracy.between(0, 1).all()

    sout = {n: str(tmp_path / f"s_{n}.parquet") for n in ("heads", "samples", "secondary", "maps")}
    sparams = {"T": 20, "epsilon": 0.3, "tau": 0.1, "min_queries": 4, "batch_size": 4, "token_offset": 10}
    run_step(sink_step.main, argv=["--input", "model", str(path / "config.json"), "--input", "data",
                                   str(tmp_path / "text.parquet"), *sum((["--output", k, v] for k, v in sout.items()), []),
                                   "--params", json.dumps(sparams)])
    sh = pd.read_parquet(sout["heads"])
    assert len(sh) == 8 and sh.alpha1.between(0, 1).all() and (sh.entropy >= 0).all()

    tables = {k: str(tmp_path / f"t.{k}") for k in ("md", "csv", "tex", "html")}
    run_step(external_table.main, argv=[
        "--input", "retrieval_heads", out["heads"], "--input", "ablation", out["ablation"],
        "--input", "sink_heads", sout["heads"], "--input", "sink_samples", sout["samples"],
        "--input", "secondary", sout["secondary"], *sum((["--output", k, v] for k, v in tables.items()), []),
        "--output", "fig", str(tmp_path / "fig.png"),
        "--params", json.dumps({"name": arch, "path": str(path), "token_offset": 10, "scale": "smoke",
                                "config_hash": "x"})])
    md = (tmp_path / "t.md").read_text()
    assert "Sink₁" in md and "retrieval score > 0.1" in md and (tmp_path / "fig.png").stat().st_size > 0


def test_a_vocabulary_too_small_for_the_offset_is_refused(saved, tmp_path):
    from attnlab import AttnlabError

    _, path = saved
    with pytest.raises(AttnlabError, match="vocab|tokens"):
        load_head_model(path, token_offset=60).check_vocab(24)


# --- config check of heads.external_models ----------------------------------------------------------
def cfg(*entries):
    return {"heads": {"external_models": list(entries)}}


def test_valid_entries_pass_with_defaults(saved):
    _, path = saved
    out = validate_external_models(cfg({"name": "mine", "path": str(path)}), vocab_needed=40, positions_needed=64)
    assert out == [{"name": "mine", "path": str(path.resolve()), "token_offset": 0}]
    assert validate_external_models({}) == []


@pytest.mark.parametrize("breakage, message", [
    ("missing", "no such directory"),
    ("file", "not a directory"),
    ("no_config", "no config.json"),
    ("bad_json", "not valid JSON"),
    ("no_weights", "no weights"),
])
def test_bad_paths_fail_naming_the_key(tmp_path, breakage, message):
    p = tmp_path / "model"
    if breakage == "file":
        p.write_text("x")
    elif breakage != "missing":
        p.mkdir()
        if breakage == "bad_json":
            (p / "config.json").write_text("{not json")
        elif breakage == "no_weights":
            (p / "config.json").write_text(json.dumps({"vocab_size": 100}))
    with pytest.raises(ConfigError) as e:
        validate_external_models(cfg({"name": "ok", "path": str(tmp_path / "elsewhere")}, {"name": "m", "path": str(p)}))
    msg = str(e.value)
    assert "heads.external_models[1].path" in msg and message in msg and str(p) in msg
    assert "heads.external_models[0].path" in msg  # every bad entry is named


def test_small_vocab_short_context_and_duplicates_are_named(saved):
    _, path = saved
    with pytest.raises(ConfigError) as e:
        validate_external_models(cfg({"name": "a", "path": str(path), "token_offset": 50},
                                     {"name": "a", "path": str(path)}), vocab_needed=20, positions_needed=128)
    msg = str(e.value)
    assert "vocab_size is 64" in msg and "token_offset 50" in msg
    assert "need 128 positions" in msg and "duplicate name 'a'" in msg

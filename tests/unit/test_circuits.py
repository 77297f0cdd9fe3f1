"""circuits: the analysis step's `analyze` on our model and tiny GPT-2 and Llama models, and the
claim checks on hand-made metrics (gate, R1's empty-circuit rule, verdicts)."""

import numpy as np
import pandas as pd
import pytest
import torch

from attnlab.circuits import plan
from attnlab.circuits.analyse import analyze
from attnlab.circuits.evaluate import check_claims, run_metrics
from attnlab.heads.adapters import wrap
from attnlab.tasks.synth import synthesize

CFG = {"n_train": 8, "n_eval": 6, "p_standard": 0.5, "control": {"seq_len": 8, "n_states": 8}}


def model_for(arch, V):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    if arch == "ours":
        from attnlab.lm.configuration import AttnLMConfig
        from attnlab.lm.modeling import AttnLMForCausalLM

        return wrap(AttnLMForCausalLM(AttnLMConfig(vocab_size=V, n_positions=18, n_embd=16, n_layer=2, n_head=2)))
    if arch == "gpt2":
        return wrap(transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=V + 2, n_positions=18, n_embd=16,
                                                                         n_layer=2, n_head=2)), token_offset=2)
    return wrap(transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=V + 2, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=18)), token_offset=2)


@pytest.mark.parametrize("arch", ["ours", "gpt2", "llama"])
def test_analysis_runs_on_any_model(arch):
    V = plan.vocab_size(CFG)
    df = synthesize(**plan.synth_params(CFG, 0, "eval", 0))
    out = analyze(model_for(arch, V), df, task_vocab=V, n_states=8, rank=2)
    t, h = out["tasks"].set_index("task"), out["heads"]
    assert set(t.index) == {"ioi", "cobj", "mcq", "control", "mcq_standard", "mcq_random"}
    assert len(h) == 4 * 4 and h[h.task == "mcq"].dla.notna().all() and h[h.task == "ioi"].dla.isna().all()
    assert t.accuracy[["ioi", "cobj", "mcq"]].between(0, 1).all()
    tasks = out["tasks"].assign(seed_index=0, analysis_wall_s=0.0)
    m, ov = run_metrics({"tasks": tasks, "heads": h.assign(seed_index=0)}, 0.1, 3)
    assert len(m) == 1 and len(ov) == 16


def metrics(**over):
    base = {"acc_ioi": 0.95, "acc_cobj": 0.97, "acc_mcq": 0.92, "overlap_ioi_cobj": 0.8, "jaccard_ioi_cobj": 0.6,
            "overlap_ioi_control": 0.2, "size_ioi": 4, "size_cobj": 5, "size_control": 2, "dla_top_share": 0.7,
            "top_head": "L3H1", "retention_standard": 0.95, "retention_random": 0.6}
    return pd.DataFrame([{"seed_index": s, **base, **{k: v[s] for k, v in over.items()}} for s in range(3)])


KW = dict(scale="mini", threshold=0.1, reuse_overlap=0.5, control_margin=0.25, dla_top_k=3, dla_share=0.5, rank=3,
          retention_standard=0.9, retention_gap=0.1, task_bar=0.9)


def test_claims_pass_fail_and_gate():
    rows = check_claims(metrics(), **KW)
    assert [r["verdict"] for r in rows] == ["PASS", "PASS", "PASS", "NOT RUN", "NOT RUN", "NOT RUN"]
    rows = check_claims(metrics(overlap_ioi_control=[0.7, 0.7, 0.7]), **KW)  # the control shares as much
    assert rows[0]["verdict"] == "FAIL"
    rows = check_claims(metrics(acc_mcq=[0.95, 0.5, 0.95], overlap_ioi_cobj=[0.8, 0.8, np.nan]), **KW)
    assert rows[0]["verdict"] == "INCONCLUSIVE" and "under-trained" in rows[0]["why"]
    assert rows[0]["per_seed_pass"] == [True, None, None]
    rows = check_claims(metrics(retention_random=[0.9, 0.9, 0.9]), **KW)
    assert rows[2]["verdict"] == "FAIL"

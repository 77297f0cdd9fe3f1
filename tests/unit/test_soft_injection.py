"""soft_injection: the model-free baselines (the shortcut check) on hand-made prompts, per-head
injection of a task embedding on tiny models where the answer is known exactly, the analysis on our
model and on tiny local GPT-2 and Llama models (also through the step's command line from a saved
directory), the transfer ratios, the plan's parse-time checks and the claims on hand-made metrics."""

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

from attnlab.cli import StepArgs
from attnlab.config import ConfigError
from attnlab.heads import circuit_suite as S
from attnlab.heads.adapters import wrap
from attnlab.soft_injection import baselines as B
from attnlab.soft_injection import plan
from attnlab.soft_injection.analyse import analyze, zero_shot
from attnlab.soft_injection.evaluate import check_claims, transfer_ratios
from attnlab.tasks.synth import synthesize
from attnlab.tasks.vocab import BOS, EOS, FIRST
from tests.fixtures import load_config

# --- the model-free baselines on hand-made prompts ----------------------------------------------

F = np.array([[0, 1, 2, 3],  # task 0
              [0, 1, 3, 2],  # task 1: agrees with task 0 on inputs 0, 1
              [1, 0, 2, 3]])  # task 2


def prompt(task, xs, x_q, flips=None):
    """BOS x y … x_q y_q EOS in model ids (4 inputs, 4 outputs); flips = {demo index: output}."""
    ys = [F[task, x] for x in xs]
    for i, y in (flips or {}).items():
        ys[i] = y
    s = [BOS]
    for x, y in zip(xs, ys):
        s += [FIRST + x, FIRST + 4 + y]
    return s + [FIRST + x_q, FIRST + 4 + F[task, x_q], EOS]


def test_baselines_on_hand_made_prompts():
    p = prompt(1, [2, 0], 3)  # task 1's demos: x=2 -> 3 singles out task 1
    (xs, ys, xq), = B.prompts([p], 4)
    assert xs.tolist() == [2, 0] and ys.tolist() == [3, 0] and xq == 3
    assert B.predict(F, xs, ys, 3, "context_free") == 3  # tasks 0, 2 say 3, task 1 says 2
    assert B.predict(F, xs, ys, 3, "bayes", noise=0.0) == 2  # only task 1 explains the demos
    assert B.predict(F, xs, ys, 0, "copy") == 0 and B.predict(F, xs, ys, 3, "copy") == 3  # seen / unseen
    assert B.predict(F, np.array([0, 1, 2]), np.array([1, 1, 3]), 2, "majority") == 1
    # a noisy demo (x=3 -> 2) contradicts every task; with noise in the model tasks 0 and 2 explain two of
    # the three demos, task 1 one, so x=2 -> 2; without it no task remains and the guess is context-free
    xs, ys, _ = B.prompts([prompt(0, [2, 3, 2], 0, flips={1: 2})], 4)[0]
    assert B.predict(F, xs, ys, 2, "bayes", noise=0.3) == 2
    assert B.predict(F, xs, ys, 1, "bayes", noise=0.0) == B.predict(F, xs, ys, 1, "context_free") == 1
    answers = [FIRST + 4 + F[1, 3]]
    assert B.accuracy(F, [p], answers, 4, "bayes") == 1.0 and B.accuracy(F, [p], answers, 4, "context_free") == 0.0


# --- injection on tiny models: known answers ----------------------------------------------------

V = 40


def tiny(arch, n_positions=32):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    if arch == "ours":
        from attnlab.lm.configuration import AttnLMConfig
        from attnlab.lm.modeling import AttnLMForCausalLM

        return wrap(AttnLMForCausalLM(AttnLMConfig(vocab_size=V, n_positions=n_positions, n_embd=16, n_layer=2,
                                                   n_head=2, position_encoding="rope")))
    if arch == "gpt2":
        return wrap(transformers.GPT2LMHeadModel(transformers.GPT2Config(
            vocab_size=V + 3, n_positions=n_positions, n_embd=16, n_layer=2, n_head=2)), token_offset=3)
    return wrap(transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=V + 3, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=n_positions)), token_offset=3)


@pytest.mark.parametrize("arch", ["ours", "llama"])
def test_hard_injection_of_a_prompts_own_heads_reproduces_its_prediction(arch):
    """With rotary positions the residual stream at the query holds only the query token, so
    replacing every head's output at the query of `BOS x_q` by those of an N-shot prompt with the
    same query (α = 1 everywhere) makes the zero-shot logits exactly the N-shot ones; α = 0 changes
    nothing."""
    model = tiny(arch)
    shot = torch.tensor([[BOS, 9, 20, 11, 22, 10, 25, 9]])  # three demonstrations, then the query 9
    pred_shot = torch.tensor([7])
    e = S.task_embedding(model, shot, pred_shot)
    zero, pred0 = zero_shot(torch.cat([shot, torch.tensor([[30]])], 1), pred_shot)
    assert zero.tolist() == [[BOS, 9, 30]] and pred0.tolist() == [1]
    L, H = model.n_layers, model.n_heads
    want = model.run(model.encode(shot))[0][0, 7]
    got = model.run(model.encode(zero), patch=S.injection_patch(e, torch.ones(L, H), pred0))[0][0, 1]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    clean = model.run(model.encode(zero))[0]
    torch.testing.assert_close(model.run(model.encode(zero), patch=S.injection_patch(e, torch.zeros(L, H), pred0))[0],
                               clean)
    assert (clean[0, 1] - want).abs().max() > 1e-3  # the demonstrations do change the prediction


@pytest.mark.parametrize("arch", ["ours", "llama"])
def test_fitted_mixing_weight_reaches_the_known_answer(arch):
    """The answer is the N-shot prompt's own prediction, which α = 1 reproduces exactly (above) and
    the bare zero-shot prompt misses: the fitted α must find it, with the model untouched."""
    model = tiny(arch)
    lo = model.token_offset
    for q in range(9, 40):  # a query whose zero-shot and N-shot predictions differ
        shot = torch.tensor([[BOS, 12, 20, 11, 22, 10, 25, q]])
        e = S.task_embedding(model, shot, torch.tensor([7]))
        target = model.run(model.encode(shot))[0][0, 7, lo:lo + V].argmax()
        zero = torch.tensor([[BOS, q]])
        if model.run(model.encode(zero))[0][0, 1, lo:lo + V].argmax() != target:
            break
    else:
        pytest.skip("no query whose prediction the demonstrations change")
    ids, pred, ans = zero.repeat(4, 1), torch.ones(4, dtype=torch.long), target.repeat(4)
    before = [p.detach().clone() for p in model.model.parameters()]
    assert S.injected_accuracy(model, e, torch.zeros(2, 2), ids, pred, ans, V) == 0.0
    assert S.injected_accuracy(model, e, torch.ones(2, 2), ids, pred, ans, V) == 1.0
    alpha = S.fit_soft_injection(model, e, ids, pred, ans, V, steps=60, lr=0.3)
    assert S.injected_accuracy(model, e, alpha, ids, pred, ans, V) == 1.0
    assert alpha.mean() > 0.5  # it moved towards the embedding
    assert all(torch.equal(a, b) for a, b in zip(before, model.model.parameters()))


# --- the analysis on any model ------------------------------------------------------------------

CFG = {"icl": {"n_families": 2, "per_family": 2, "n_inputs": 8, "n_outputs": 8}, "n_train": 16, "max_demos": 3,
       "train_noise": 0.2, "shots": 3, "noise": 0.2, "n_embed": 4, "n_fit": 3, "n_test": 5}
KW = dict(n_tasks=4, per_family=2, n_inputs=8, n_outputs=8, noise=0.2, fit_steps=3, fit_lr=0.1)


def eval_data():
    return synthesize(**plan.synth_params(CFG, 0, "eval", 0))


def test_eval_parts_are_embed_fit_test_per_task():
    df = eval_data()
    assert df.part.nunique() == 12
    for part, g in df.groupby("part"):
        role, task = divmod(part, 4)
        assert set(g.task_id) == {task}
        assert len(g) == (4, 3, 5)[role] and set(g.n_demos) == {(3, 0, 3)[role]}
    train = synthesize(**plan.synth_params(CFG, 0, "train", 0))
    assert train.n_demos.max() <= 3 and train.task_id.nunique() == 4


@pytest.mark.parametrize("arch", ["ours", "gpt2", "llama"])
def test_analysis_runs_on_any_model(arch):
    out = analyze(tiny(arch), eval_data(), task_vocab=plan.vocab_size(CFG),
                  mapping_seed=plan.mapping_seed(0, 0), **KW)
    t = out["tasks"]
    assert len(t) == 4 and t.family.tolist() == [0, 0, 1, 1]
    for c in ("acc_zero", "acc_icl", "acc_soft", "acc_hard", "base_bayes", "base_copy"):
        assert t[c].between(0, 1).all()
    assert (t.tokens_zero == 2).all() and (t.tokens_icl == 8).all() and (t.flops_zero < t.flops_icl).all()
    assert len(out["alpha"]) == 4 * 4 and out["alpha"].alpha.between(0, 1).all()
    tr = out["transfer"]
    assert len(tr) == 16
    own = tr[tr.a == tr.b].set_index("b").acc
    np.testing.assert_allclose(own.to_numpy(), t.acc_soft.to_numpy())  # a task's own α is the soft condition


def test_the_step_runs_on_a_saved_hugging_face_model(tmp_path):
    from attnlab.io import read_parquet, write_parquet
    from attnlab.soft_injection.analyse import main

    model = tiny("gpt2").model
    model.save_pretrained(tmp_path / "gpt2")
    write_parquet(tmp_path / "eval.parquet", eval_data())
    params = {"task_vocab": plan.vocab_size(CFG), "mapping_seed": plan.mapping_seed(0, 0), "seed": 1,
              "token_offset": 3, **KW}
    outs = {n: [str(tmp_path / f"{n}.parquet")] for n in plan.OUTPUTS}
    main(StepArgs(inputs={"model": [str(tmp_path / "gpt2/config.json")], "data": [str(tmp_path / "eval.parquet")]},
                  outputs=outs, params=json.loads(json.dumps(params))))
    assert len(read_parquet(outs["transfer"][0])) == 16 and len(read_parquet(outs["tasks"][0])) == 4


# --- metrics and claims ---------------------------------------------------------------------------


def test_transfer_ratios():
    tr = pd.DataFrame({"a": [0, 0, 1, 1], "b": [0, 1, 0, 1], "acc": [0.8, 0.3, 0.4, 0.6]})
    r = transfer_ratios(tr, {0: 0, 1: 1}).set_index(["a", "b"])
    assert r.ratio[(0, 1)] == pytest.approx(0.5) and r.ratio[(1, 0)] == pytest.approx(0.5)
    assert not r.same_family.any() and len(r) == 2
    tr.loc[3, "acc"] = 0.0  # b's own α gets nothing right: no ratio
    assert np.isnan(transfer_ratios(tr, {0: 0, 1: 0}).set_index(["a", "b"]).ratio[(0, 1)])


GOOD = {"acc_zero": 0.3, "acc_icl": 0.8, "acc_soft": 0.9, "acc_hard": 0.5, "soft_minus_icl": 0.1,
        "transfer_same": 0.9, "transfer_cross": 0.4, "transfer_gap": 0.5, "tokens_zero": 2, "tokens_icl": 22,
        "flops_zero": 1e5, "flops_icl": 1e6, "base_context_free": 0.3, "base_copy": 0.44, "base_majority": 0.06,
        "base_bayes": 0.98}
KW_CLAIMS = dict(i1_margin=0.02, i2_margin=0.15, icl_lift=2.0, icl_bar=0.7, shots=10, noise=0.2, scale="mini")


def test_claims_gate_lift_gate_and_verdicts():
    m = pd.DataFrame([{"seed_index": s, **GOOD} for s in range(3)])
    rows = check_claims(m, **KW_CLAIMS)
    assert [r["verdict"] for r in rows] == ["PASS"] * 5
    assert [r["kind"] for r in rows] == ["paper", "paper", "check", "check", "check"]
    assert all(r["substitute"] for r in rows)
    m.loc[2, "acc_icl"] = 0.5  # seed 2 under the competence bar
    m.loc[2, "soft_minus_icl"] = 0.4
    rows = check_claims(m, **KW_CLAIMS)
    assert rows[0]["verdict"] == "INCONCLUSIVE" and "under-trained" in rows[0]["why"]
    assert rows[0]["per_seed_pass"] == [True, True, None]
    m.loc[:, "acc_icl"] = 0.75
    m.loc[:, "acc_zero"] = 0.4  # ICL < 2 × 0-shot on every seed: I1 unmeasured (spec's gate)
    assert check_claims(m, **KW_CLAIMS)[0]["per_seed_pass"] == [None] * 3
    m.loc[:, "acc_zero"] = 0.3
    m.loc[:, "acc_soft"] = 0.76  # within the two-point margin: fails
    m.loc[:, "transfer_gap"] = 0.1
    rows = check_claims(m, **KW_CLAIMS)
    assert rows[0]["verdict"] == "FAIL" and rows[1]["verdict"] == "FAIL" and rows[2]["verdict"] == "PASS"
    m.loc[:, "base_copy"] = 0.75  # a shortcut reaches the bar
    assert check_claims(m, **KW_CLAIMS)[4]["verdict"] == "FAIL"


def test_plan_checks_name_both_keys():
    cfg = load_config()
    exp = plan.EXPERIMENT
    exp.check(exp.context(cfg))
    bad = copy.deepcopy(cfg)
    bad["experiments"]["soft_injection"]["shots"] = 12
    with pytest.raises(ConfigError, match="shots.*max_demos"):
        exp.check(exp.context(bad))
    bad = copy.deepcopy(cfg)
    bad["experiments"]["soft_injection"]["icl"]["per_family"] = 1
    with pytest.raises(ConfigError, match="per_family"):
        exp.check(exp.context(bad))
    assert exp.deviations(cfg) == []

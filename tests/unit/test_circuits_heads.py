"""Circuit metrics on hand-made inputs with known answers, and the head interventions (mean ablation,
direct logit attribution, low-rank q/k, soft injection) on our model and tiny local GPT-2 and Llama
models, checked against the models' own weights."""

import numpy as np
import pytest
import torch

from attnlab.heads import circuit_suite as S
from attnlab.heads import circuits as C
from attnlab.heads.adapters import wrap
from attnlab.tasks import TASKS
from attnlab.tasks.circuits import VOCAB

# --- pure metrics ---------------------------------------------------------------------------------


def test_logit_diff_importance_circuit_overlap():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0], [5.0, 0.0, 1.0, 0.0]])
    ld = C.logit_diff(logits, torch.tensor([1, 0]), torch.tensor([[2, 3], [1, 2]]))
    assert ld.tolist() == [1.0, 4.0]
    I = C.importance(2.0, np.array([[2.0, 1.0], [0.0, 2.5]]))
    np.testing.assert_allclose(I, [[0, 0.5], [1.0, -0.25]])
    assert np.isnan(C.importance(0.0, np.ones(2))).all()
    assert C.circuit(I, 0.1) == {(0, 1), (1, 0)}
    a, b = {(0, 0), (0, 1), (1, 1)}, {(0, 1), (1, 1), (2, 0), (2, 1)}
    assert C.overlap(a, b) == pytest.approx(2 / 3) and C.jaccard(a, b) == pytest.approx(2 / 5)
    assert np.isnan(C.overlap(set(), b))


def test_top_share():
    assert C.top_share(np.array([[4.0, -3.0], [1.0, 5.0]]), 1) == pytest.approx(5 / 10)
    assert C.top_share(np.array([4.0, 1.0, 5.0, -1.0]), 2) == pytest.approx(0.9)
    assert np.isnan(C.top_share(np.array([-1.0, 0.0]), 1))


def test_pca_projection_recovers_a_low_rank_set():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(6, 2, generator=g))[0].T  # 2 orthonormal rows in 6-d
    X = torch.randn(50, 2, generator=g) @ basis + torch.tensor([1.0, 0, 0, 0, 0, 2.0])
    mu, comps = C.pca_fit(X, 2)
    torch.testing.assert_close(C.project(X, mu, comps), X, atol=1e-5, rtol=1e-5)
    mu1, c1 = C.pca_fit(X, 1)
    assert (C.project(X, mu1, c1) - X).norm() > 0.1


def test_inject_mixes_only_the_predicting_position():
    z = torch.zeros(2, 4, 3, 2)
    e = torch.ones(3, 2)
    out = S.inject(z, e, torch.tensor([0.0, 0.5, 1.0]), torch.tensor([3, 1]))
    assert out[0, 3, :, 0].tolist() == [0.0, 0.5, 1.0] and out[1, 1, 2].tolist() == [1.0, 1.0]
    assert out[0, :3].abs().sum() == 0 and out[1, 2:].abs().sum() == 0


# --- the interventions on any model ---------------------------------------------------------------

OFFSET = 3
MODEL_VOCAB = max(VOCAB, TASKS["icl_tasks"].vocab_size())  # one model serves both task families here


def build(arch):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    if arch == "ours":
        from attnlab.lm.configuration import AttnLMConfig
        from attnlab.lm.modeling import AttnLMForCausalLM

        return wrap(AttnLMForCausalLM(AttnLMConfig(vocab_size=MODEL_VOCAB, n_positions=32, n_embd=32, n_layer=2,
                                                   n_head=4, position_encoding="rope")))
    if arch == "gpt2":
        m = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=MODEL_VOCAB + OFFSET, n_positions=32,
                                                                 n_embd=32, n_layer=2, n_head=4))
    else:
        m = transformers.LlamaForCausalLM(transformers.LlamaConfig(
            vocab_size=MODEL_VOCAB + OFFSET, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32))
    return wrap(m, token_offset=OFFSET)


def out_proj(model, arch, layer):
    if arch == "ours":
        return model.model.blocks[layer].attn.c_proj
    if arch == "gpt2":
        return model.model.transformer.h[layer].attn.c_proj
    return model.model.model.layers[layer].self_attn.o_proj


def mcq(n=12):
    df = TASKS["mcq"].generate(n, seed=0)
    ids = torch.tensor(np.stack(df.input_ids))
    pred = torch.tensor(df.answer_pos.to_numpy()) - 1
    return df, ids, pred, torch.tensor(df.answer.to_numpy()), torch.tensor(np.stack(df.foils))


@pytest.fixture(scope="module", params=["ours", "gpt2", "llama"])
def arch_model(request):
    return request.param, build(request.param)


def test_head_writes_sum_to_the_output_projection(arch_model):
    arch, model = arch_model
    _, ids, *_ = mcq(4)
    _, cache = model.run(model.encode(ids), names=[S.z_name(1)])
    z = cache[S.z_name(1)]
    proj = out_proj(model, arch, 1)
    with torch.no_grad():
        ref = proj(z.flatten(2))
        if getattr(proj, "bias", None) is not None:
            ref = ref - proj.bias
    torch.testing.assert_close(model.head_writes(1, z).sum(2), ref, atol=1e-5, rtol=1e-4)


def test_unembed_direct_reproduces_the_logits_up_to_a_constant(arch_model):
    _, model = arch_model
    _, ids, *_ = mcq(3)
    x = model.final_residual(model.encode(ids))
    logits, _ = model.run(model.encode(ids))
    diff = logits - model.unembed_direct(x, x)  # the final norm's bias through W_U: the same everywhere
    torch.testing.assert_close(diff, diff[:1, :1].expand_as(diff), atol=1e-4, rtol=1e-4)


def test_mean_ablation_scan_matches_zero_ablation_and_dla(arch_model):
    _, model = arch_model
    _, ids, pred, ans, foils = mcq()
    zeros = {l: torch.zeros(model.n_heads, 8) for l in range(2)}
    clean, I = S.ablation_scan(model, ids, S.ld_score(model, ids, pred, ans, foils, VOCAB), means=zeros)
    ld_zero, _ = S.answer_metrics(model, ids, pred, ans, foils, VOCAB, ablate={1: [2]})
    if clean > 0:
        assert I[1, 2] == pytest.approx((clean - ld_zero) / clean, rel=1e-4, abs=1e-6)
    else:
        assert np.isnan(I).all()
    _, I_mean = S.ablation_scan(model, ids, S.ld_score(model, ids, pred, ans, foils, VOCAB))
    assert I_mean.shape == (2, 4)
    dla = S.direct_logit_attribution(model, ids, pred, ans, foils, VOCAB)
    assert dla.shape == (2, 4) and np.isfinite(dla).all()
    # last-layer DLA is exactly the frozen-norm readout of that head's write (a known linear answer)
    names = [S.z_name(1)]
    logits, cache = model.run(model.encode(ids), names=names)
    rows = torch.arange(len(pred))
    x = model.final_residual(model.encode(ids))[rows, pred]
    lg = logits[rows, pred, OFFSET if model.token_offset else 0:][:, :VOCAB]
    top = foils.gather(-1, lg.gather(-1, foils).argmax(-1, keepdim=True))[:, 0]
    with torch.no_grad():
        w = model.head_writes(1, cache[S.z_name(1)][rows, pred][:, None])[:, 0, 3]
        d = model.unembed_direct(x, w)
    off = model.token_offset
    assert dla[1, 3] == pytest.approx(float((d[rows, ans + off] - d[rows, top + off]).mean()), rel=1e-4, abs=1e-5)


def test_lowrank_qk_full_rank_is_the_identity(arch_model):
    _, model = arch_model
    _, ids, pred, ans, foils = mcq()
    k_pos = torch.tensor([[10, 12, 14]] * len(pred))
    q, k = S.qk_vectors(model, 1, 1, ids, pred, k_pos)
    assert q.shape == (len(pred), 8) and k.shape == (3 * len(pred), 8)
    logits, _ = model.run(model.encode(ids))
    full = S.lowrank_patch(1, 1, model.n_heads, C.pca_fit(q, 8), C.pca_fit(k, 8), pred, k_pos)
    torch.testing.assert_close(model.run(model.encode(ids), patch=full)[0], logits, atol=1e-4, rtol=1e-4)
    low = S.lowrank_patch(1, 1, model.n_heads, C.pca_fit(q, 1), C.pca_fit(k, 1), pred, k_pos)
    name = "blocks.1.attn.hook_pattern"
    P = model.run(model.encode(ids), names=[name])[1][name]
    P_low = model.run(model.encode(ids), names=[name], patch=low)[1][name]
    rows = torch.arange(len(pred))
    assert (P_low[rows, 1, pred] - P[rows, 1, pred]).abs().max() > 1e-7  # the head's answer row moves
    others = [0, 2, 3] if model.n_heads == 4 and "Llama" not in type(model.model).__name__ else [2, 3]
    torch.testing.assert_close(P_low[:, others], P[:, others])  # other heads (other key groups) do not


def test_soft_injection_fit_lowers_the_loss_and_leaves_the_model_alone(arch_model):
    _, model = arch_model
    df = TASKS["icl_tasks"].generate(16, seed=0, min_demos=0, max_demos=0, tasks=[0])
    ids = torch.tensor(np.stack(df.input_ids))
    pred = torch.tensor(df.answer_pos.to_numpy()) - 1
    ans = torch.tensor(df.answer.to_numpy())
    shots = TASKS["icl_tasks"].generate(16, seed=1, min_demos=3, max_demos=3, tasks=[0])
    e = S.task_embedding(model, torch.tensor(np.stack(shots.input_ids)), torch.tensor(shots.answer_pos.to_numpy()) - 1)
    assert e.shape == (2, 4, 8)
    before = [p.detach().clone() for p in model.model.parameters()]
    V = TASKS["icl_tasks"].vocab_size()

    def loss(alpha):
        logits, _ = model.run(model.encode(ids), patch=S.injection_patch(e, alpha, pred))
        lg = logits[torch.arange(len(pred)), pred, model.token_offset:model.token_offset + V]
        return float(torch.nn.functional.cross_entropy(lg, ans))

    alpha = S.fit_soft_injection(model, e, ids, pred, ans, V, steps=15, lr=0.3)
    assert alpha.shape == (2, 4) and ((alpha > 0) & (alpha < 1)).all()
    assert loss(alpha) < loss(torch.full((2, 4), 0.5))  # θ starts at 0: α = 0.5
    assert all(torch.equal(a, b) for a, b in zip(before, model.model.parameters()))
    assert all(p.requires_grad for p in model.model.parameters())
    logits0, _ = model.run(model.encode(ids))
    torch.testing.assert_close(model.run(model.encode(ids), patch=S.injection_patch(e, torch.zeros(2, 4), pred))[0],
                               logits0)
    assert 0 <= S.injected_accuracy(model, e, alpha, ids, pred, ans, V) <= 1

"""IR-Diffusion attention processors: equivalence, isolation, sharing, reposition, generation."""

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor

from attnlab import AttnlabError
from attnlab.diffusion import generate as gen
from attnlab.diffusion import ir_attention as ir
from attnlab.diffusion.model import build
from attnlab.diffusion.sample import generate, initial_noise
from tests.fixtures import TINY_T2I

torch.set_num_threads(1)

WORDS = ["a", "red", "blue", "circle", "square", "on", "the", "left", "right"]
TINY = {**TINY_T2I, "attention": [True, True], "max_length": 10}


def box_mask(x0, y0, x1, y1, size=8):
    m = np.zeros((size, size), bool)
    m[y0:y1, x0:x1] = True
    return m


@pytest.fixture
def attn():
    torch.manual_seed(0)
    return Attention(query_dim=16, heads=2, dim_head=8).eval()


def run(attn, x, state, name="layer"):
    proc = ir.IRAttnProcessor(name)
    with torch.no_grad():
        return proc(attn, x, ir_state=state)


# 8x8 images; tokens on a 4x4 grid (each cell 2x2 pixels)
M0 = box_mask(0, 0, 4, 4)  # top-left quadrant of the target
M1 = box_mask(4, 4, 8, 8)  # bottom-right quadrant of the target


def test_all_switches_off_equals_default_processor(attn):
    x = torch.randn(2 * 3, 16, 16)  # CFG x [ref_1, ref_2, target], 4x4 tokens
    want = AttnProcessor()(attn, x)
    state = ir.IRState(n_refs=2, ref_masks=[M0, M1], target_masks=[M0, M1])
    torch.testing.assert_close(run(attn, x, state), want, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(run(attn, x, None), want, atol=1e-6, rtol=1e-5)
    # the explicit masked path with nothing to mask (one subject, isolation only) is the same attention
    one = ir.IRState(isolate=True, n_refs=0, target_masks=[M0])
    torch.testing.assert_close(run(attn, x, one), want, atol=1e-5, rtol=1e-5)


def test_all_switches_off_in_unet_equals_default(tmp_path):
    comps = build(TINY, WORDS, seed=0)
    prompts = ["a red circle", "a blue square"]
    want = generate(comps, prompts, seed=[1, 1], steps=2, guidance=2.0)
    ir.install(comps["unet"], "all")
    state = ir.IRState(n_refs=1, ref_masks=[M0], target_masks=[M1])
    got = generate(comps, prompts, seed=[1, 1], steps=2, guidance=2.0,
                   cross_attention_kwargs=ir.attention_kwargs(state))
    ir.uninstall(comps["unet"])
    np.testing.assert_array_equal(got, want)


def test_isolation_zeroes_attention_between_subjects(attn):
    x = torch.randn(2, 16, 16)  # [ref, target]
    state = ir.IRState(isolate=True, n_refs=1, target_masks=[M0, M1], capture=True)
    run(attn, x, state)
    probs = state.captured["layer"][0]  # (heads, L queries, L target keys) -- no sharing, no ref keys
    assert probs.shape == (2, 16, 16)
    lab = ir.target_labels([M0, M1], 4, 4).reshape(-1)
    assert (lab == 0).sum() == 4 and (lab == 1).sum() == 4
    q0, q1, bg = lab == 0, lab == 1, lab == -1
    assert probs[:, q0][:, :, q1].abs().max() == 0
    assert probs[:, q1][:, :, q0].abs().max() == 0
    assert probs[:, q0][:, :, q0].min() > 0 and probs[:, q0][:, :, bg].min() > 0
    assert probs[:, bg][:, :, q0].min() > 0 and probs[:, bg][:, :, q1].min() > 0  # background sees all
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 16))
    off = ir.IRState(isolate=False, share=True, n_refs=1, ref_masks=[M0, None], target_masks=[M0, M1],
                     subject_refs=[0, None], token_dropout=0.0, capture=True)
    run(attn, x, off)
    assert off.captured["layer"][0][:, q0][:, :, :16][:, :, q1].min() > 0  # no isolation: subjects see each other


def test_sharing_reaches_only_the_reference_mask(attn):
    x = torch.randn(3, 16, 16)  # [ref_1, ref_2, target]
    ref0, ref1 = box_mask(2, 2, 6, 6), box_mask(0, 4, 4, 8)
    state = ir.IRState(share=True, n_refs=2, ref_masks=[ref0, ref1], target_masks=[M0, M1],
                       token_dropout=0.0, capture=True)
    run(attn, x, state)
    probs = state.captured["layer"][0]
    assert probs.shape == (2, 16, 16 * 3)  # target keys, subject 0's ref keys, subject 1's ref keys
    lab = ir.target_labels([M0, M1], 4, 4).reshape(-1)
    k0 = ir.grid_mask(ref0, 4, 4).reshape(-1)
    k1 = ir.grid_mask(ref1, 4, 4).reshape(-1)
    block0, block1 = probs[..., 16:32], probs[..., 32:48]
    assert block0[:, lab == 0][:, :, k0].min() > 0
    assert block0[:, lab == 0][:, :, ~k0].max() == 0
    assert block0[:, lab != 0].max() == 0  # only subject 0's queries see reference 1
    assert block1[:, lab == 1][:, :, k1].min() > 0 and block1[:, lab != 1].max() == 0
    # token dropout removes about half of the shared keys, reproducibly for a seed
    drop = ir.IRState(share=True, n_refs=2, ref_masks=[ref0, ref1], target_masks=[M0, M1],
                      token_dropout=0.5, seed=3, capture=True)
    run(attn, x, drop)
    seen = (drop.captured["layer"][0][0, lab == 0][:, 16:32] > 0).any(0)
    assert 0 < seen.sum() < k0.sum()


def test_reposition_moves_a_patch_into_the_target_box():
    feats = torch.zeros(8, 8, 3)
    feats[1:3, 1:3] = torch.arange(12, dtype=torch.float32).view(2, 2, 3) + 1  # a 2x2 patch
    out = ir.reposition_map(feats, (1, 1, 3, 3), (4, 2, 8, 6))  # into a 4x4 box: each cell doubled
    assert out[:2].abs().sum() == 0 and out[:, :4].abs().sum() == 0 and out[6:].abs().sum() == 0
    for dy in range(4):
        for dx in range(4):
            torch.testing.assert_close(out[2 + dy, 4 + dx], feats[1 + dy // 2, 1 + dx // 2])
    # the processor's geometry: subject 0's reference keys are the target box after reposition
    ref, tgt = box_mask(0, 0, 2, 2), box_mask(4, 4, 8, 8)
    state = ir.IRState(share=True, reposition=True, n_refs=1, ref_masks=[ref], target_masks=[tgt],
                       token_dropout=0.0)
    geo = ir._geometry(state, 16)
    assert geo.ref_boxes[0] == ((0, 0, 1, 1), (2, 2, 4, 4))
    torch.testing.assert_close(geo.ref_keys[0].view(4, 4), ir.grid_mask(tgt, 4, 4))


def test_reposition_changes_the_shared_features(attn):
    # keys carry no position, so moving a same-sized patch changes nothing; a rescale does
    x = torch.randn(2, 16, 16)
    ref, tgt = box_mask(0, 0, 4, 2), box_mask(0, 2, 8, 8)
    outs = []
    for repo in (False, True):
        st = ir.IRState(share=True, reposition=repo, n_refs=1, ref_masks=[ref], target_masks=[tgt],
                        token_dropout=0.0)
        outs.append(run(attn, x, st))
    torch.testing.assert_close(outs[0][0], outs[1][0])  # the reference itself is untouched
    assert not torch.allclose(outs[0][1], outs[1][1])


def test_generate_consistent_and_sequence():
    comps = build(TINY, WORDS, seed=0)
    refs_alone = gen.reference_images(comps, ["a red circle", "a blue square"], seed=4, steps=2, guidance=2.0)
    variant = {"share": True, "isolate": True, "reposition": True, "token_dropout": 0.5, "ref_bias": 1.0}
    refs, target = gen.generate_consistent(
        comps, ["a red circle", "a blue square"], "a red circle on the left and a blue square on the right",
        [box_mask(2, 2, 6, 6), box_mask(1, 1, 5, 5)], [M0, M1], variant=variant, seed=4, steps=2, guidance=2.0,
        layers="all")
    assert refs.shape == (2, 8, 8, 3) and target.shape == (8, 8, 3)
    assert np.abs(refs.astype(int) - refs_alone).max() <= 1  # the references only attend to themselves
    assert set(comps["unet"].attn_processors.values()).__len__() >= 1
    assert not any(isinstance(p, ir.IRAttnProcessor) for p in comps["unet"].attn_processors.values())
    _, vanilla = gen.generate_consistent(comps, ["a red circle"], "a red circle", [M0], [M0], variant={},
                                        seed=4, steps=2, guidance=2.0)
    plain = generate(comps, ["a red circle"] * 2, seed=0, steps=2, guidance=2.0,
                     init_noise=initial_noise(comps, [4, 4]))
    np.testing.assert_array_equal(vanilla, plain[1])
    frames = gen.generate_sequence(comps, ["a red circle", "a red circle on the left", "a red square"],
                                  [[M0], [M0], [M1]], variant=variant, seed=2, steps=2, guidance=2.0,
                                  reference="previous")
    assert frames.shape == (3, 8, 8, 3)
    with pytest.raises(AttnlabError, match="colour"):
        gen.generate_consistent(comps, ["a"], "a", [M0], [M0], variant={"colour": True}, steps=1)


def test_fast_path_equals_captured_probabilities_and_empty_masks_share_nothing(attn):
    x = torch.randn(2 * 3, 16, 16)
    ref0, ref1 = box_mask(2, 2, 6, 6), box_mask(0, 4, 4, 8)
    kw = dict(share=True, isolate=True, reposition=True, n_refs=2, ref_masks=[ref0, ref1], target_masks=[M0, M1],
              token_dropout=0.5, ref_bias=2.0, seed=1)
    fast, slow = run(attn, x, ir.IRState(**kw)), run(attn, x, ir.IRState(**kw, capture=True))
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    # a subject whose reference mask is empty (not found) shares nothing instead of failing
    empty = np.zeros((8, 8), bool)
    st = ir.IRState(**{**kw, "ref_masks": [empty, ref1], "token_dropout": 0.0}, capture=True)
    run(attn, x, st)
    assert st.captured["layer"][0].shape == (2, 16, 16 * 2)  # target keys + subject 1's block only

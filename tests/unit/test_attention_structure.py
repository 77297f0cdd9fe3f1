"""Structure masks and packed segments in the shared model: every mechanism honours them.

CAB's leakage test (arXiv 2210.07661, scripts/attention_pattern): under every causal pattern
(plain causal, causal within packed documents, a prefix LM after its prefix), perturbing the
inputs after position t leaves every output before t unchanged. Documents packed with segment
ids do not see each other under any pattern; a bidirectional prefix does see its own future."""

import pytest
import torch

from attnlab.attention import MECHANISMS
from attnlab.attention.base import causal_mask, prefix_lm_mask, segment_mask
from tests.unit.test_attention import make, tokens

T = 16
SEGMENTS = torch.tensor([[0] * 6 + [1] * 5 + [2] * 5, [0] * 9 + [1] * 7])
PREFIX = torch.tensor([5, 8])


def logits(model, x, **kw):
    with torch.no_grad():
        return model(x, **kw).logits


# name -> (forward kwargs, first position whose future may be perturbed without leaking back)
CAUSAL_PATTERNS = {
    "causal": ({}, 0),
    "causal within segments": ({"segment_ids": SEGMENTS}, 0),
    "prefix LM, after the prefix": ({"structure_mask": prefix_lm_mask(PREFIX, T)}, int(PREFIX.max())),
    "explicit causal mask": ({"structure_mask": causal_mask(T, "cpu")[None]}, 0),
}


def test_mask_builders_on_hand_made_inputs():
    m = prefix_lm_mask(torch.tensor([2]), 4)[0].int().tolist()
    assert m == [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    s = segment_mask(torch.tensor([[0, 0, 1]]))[0].int().tolist()
    assert s == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]


@pytest.mark.parametrize("pattern", sorted(CAUSAL_PATTERNS))
@pytest.mark.parametrize("attention", sorted(MECHANISMS))
def test_no_mechanism_leaks_the_future_under_a_causal_pattern(attention, pattern):
    kw, start = CAUSAL_PATTERNS[pattern]
    model, x = make(attention), tokens(T=T)
    base = logits(model, x, **kw)
    assert torch.isfinite(base).all()
    for t in range(max(start, 1), T):
        y = x.clone()
        y[:, t:] = torch.randint(8, 40, (2, T - t), generator=torch.Generator().manual_seed(t))
        assert (logits(model, y, **kw)[:, :t] - base[:, :t]).abs().max() < 1e-5, (attention, pattern, t)


@pytest.mark.parametrize("attention", sorted(MECHANISMS))
def test_the_explicit_causal_mask_and_no_mask_compute_the_same_function(attention):
    model, x = make(attention), tokens(T=T)
    torch.testing.assert_close(logits(model, x, structure_mask=causal_mask(T, "cpu")[None]), logits(model, x),
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("structure", ["causal", "bidirectional"])
@pytest.mark.parametrize("attention", sorted(MECHANISMS))
def test_packed_documents_do_not_see_each_other(attention, structure):
    kw = {"segment_ids": SEGMENTS}
    if structure == "bidirectional":
        kw["structure_mask"] = torch.ones(1, T, T, dtype=torch.bool)
    model, x = make(attention, position_encoding="rope"), tokens(T=T)
    base = logits(model, x, **kw)
    y = x.clone()
    y[0, 6:11] = torch.randint(8, 40, (5,))  # document 1 of row 0
    changed = (logits(model, y, **kw) - base).abs().amax(-1)[0]
    assert changed[:6].max() < 1e-5 and changed[11:].max() < 1e-5  # documents 0 and 2
    assert changed[6:11].max() > 1e-4  # its own tokens do change


@pytest.mark.parametrize("attention", sorted(MECHANISMS))
def test_a_bidirectional_prefix_sees_its_own_future(attention):
    """Inside the prefix, an earlier output depends on a later prefix token."""
    model, x = make(attention), tokens(T=T)
    kw = {"structure_mask": prefix_lm_mask(PREFIX, T)}
    y = x.clone()
    y[:, 4] = (x[:, 4] - 8 + 1) % 32 + 8  # the last prefix token of row 0, inside row 1's prefix
    delta = (logits(model, y, **kw) - logits(model, x, **kw)).abs().amax(-1)
    assert delta[:, :4].max() > 1e-4

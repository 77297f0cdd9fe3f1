"""Per-query key positions in the shared attention (AttentionContext.key_positions): query i sees
key j at key_positions[:, i, j], itself at position_ids[:, i]. With none given nothing changes
(tests/unit/test_parity.py holds GPT-2 parity on that path)."""

import pytest
import torch

from attnlab.attention import MECHANISMS, mechanism_class
from attnlab.attention.base import apply_rotary, apply_rotary_per_query
from tests.unit.test_attention import make, tokens

T = 16
# meta-tokens' zeroed positions are a position_ids edit that explicit key positions replace
PLAIN = {"meta": {"zero_meta_positions": False}}
PER_QUERY = sorted(m for m in MECHANISMS if mechanism_class(m).per_query_keys)
SHARED_KEYS = sorted(m for m in MECHANISMS if not mechanism_class(m).per_query_keys)  # kernel / slot mechanisms


def logits(model, x, **kw):
    with torch.no_grad():
        return model(x, **kw).logits


@pytest.mark.parametrize("attention", PER_QUERY)
def test_key_positions_equal_to_the_token_positions_change_nothing(attention):
    model, x = make(attention, **PLAIN.get(attention, {})), tokens(T=T)
    pos = torch.arange(T).expand(2, T)
    same = pos[:, None, :].expand(2, T, T)
    torch.testing.assert_close(logits(model, x, key_positions=same), logits(model, x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("attention", PER_QUERY)
def test_a_per_query_shift_of_every_position_changes_nothing_under_rope(attention):
    """RoPE sees only p_i(i) − p_i(j): shifting query i and all its keys by c_i (different per
    query) is the same function; shifting only the keys of some queries is not."""
    model, x = make(attention, **PLAIN.get(attention, {})), tokens(T=T)
    c = torch.randint(0, 50, (2, T), generator=torch.Generator().manual_seed(1))
    pos = torch.arange(T).expand(2, T)
    keys = pos[:, None, :] + c[:, :, None]  # (batch, query, key)
    shifted = logits(model, x, position_ids=pos + c, key_positions=keys)
    torch.testing.assert_close(shifted, logits(model, x), rtol=0, atol=1e-5)
    moved = logits(model, x, key_positions=keys)  # queries stay, keys move
    assert (moved - logits(model, x)).abs().max() > 1e-4


def test_per_query_rotation_on_hand_made_inputs():
    """Row i of the per-query keys is apply_rotary of k at row i's positions; the score is
    q_i rotated by its own position dotted with k_j rotated by P_ij."""
    torch.manual_seed(0)
    q, k = torch.randn(1, 2, 3, 8), torch.randn(1, 2, 3, 8)
    P = torch.tensor([[[0, 5, 9], [2, 2, 7], [1, 4, 4]]])
    per = apply_rotary_per_query(k, P, 10000.0)
    assert per.shape == (1, 2, 3, 3, 8)
    for i in range(3):
        torch.testing.assert_close(per[:, :, i], apply_rotary(k, P[:, i], 10000.0))
    model = make("softmax")
    attn = model.blocks[0].attn
    scores = attn.scores(apply_rotary(q, torch.tensor([[0, 2, 4]]), 10000.0), per)
    i, j = 1, 2
    qi = apply_rotary(q, torch.tensor([[2, 2, 2]]), 10000.0)[0, 1, i]
    kj = apply_rotary(k, torch.tensor([[7, 7, 7]]), 10000.0)[0, 1, j]
    assert scores[0, 1, i, j] == pytest.approx(float(qi @ kj) / 8 ** 0.5, rel=1e-5)


def test_learned_positions_refuse_per_query_key_positions():
    model, x = make("softmax", position_encoding="learned"), tokens(T=T)
    with pytest.raises(ValueError, match="key_positions"):
        model(x, key_positions=torch.zeros(2, T, T, dtype=torch.long))


@pytest.mark.parametrize("attention", SHARED_KEYS)
def test_mechanisms_with_shared_keys_refuse_per_query_positions(attention):
    model, x = make(attention), tokens(T=T)
    with pytest.raises(ValueError, match="per-query key positions"):
        model(x, key_positions=torch.arange(T).expand(2, T, T))

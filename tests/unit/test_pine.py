"""PINE (arXiv 2407.01100) and the prefix-LM mask on hand-made multi-document inputs: which keys
each query sees, the per-query positions, exact invariance to document order (PINE, PCW) and its
absence (vanilla, NIA); the retrieval-QA and two-hop tasks have no shortcut."""

import numpy as np
import pytest
import torch

from attnlab.attention.base import AttentionContext
from attnlab.lm.configuration import AttnLMConfig
from attnlab.lm.modeling import AttnLMForCausalLM
from attnlab.tasks import TASKS
from attnlab.tasks.multidoc import DOC, place
from attnlab.tasks.vocab import BOS, QUERY

# BOS | DOC a b | DOC c d e | DOC f g | Q h i
IDS = torch.tensor([[BOS, DOC, 10, 11, DOC, 12, 13, 14, DOC, 15, 16, QUERY, 17, 18]])
T = IDS.shape[1]
DOCS = [range(1, 4), range(4, 8), range(8, 11)]


def model(mode="pine", seed=0, n_layer=2):
    torch.manual_seed(seed)
    cfg = AttnLMConfig(vocab_size=40, n_positions=64, n_embd=32, n_layer=n_layer, n_head=4, attention="pine",
                       attention_options={"doc_token": DOC, "query_token": QUERY, "mode": mode},
                       position_encoding="rope")
    return AttnLMForCausalLM(cfg).eval()


def context(mode):
    attn = model(mode).blocks[0].attn
    pos = torch.arange(T)[None]
    return attn, attn.prepare(AttentionContext(position_ids=pos, rope_theta=10000.0), IDS)


def test_documents_are_found_by_their_tokens():
    _, ctx = context("pine")
    assert ctx.doc[0].tolist() == [-1, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, -1, -1, -1]
    assert ctx.offset[0, :11].tolist() == [0, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2]
    assert ctx.doc_len[0, :4].tolist() == [3, 4, 3, 0] and int(ctx.docs_start[0]) == 1


@pytest.mark.parametrize("mode", ["pine", "pine_noreorder", "nia", "pcw"])
def test_the_mask_opens_or_closes_only_the_inter_document_block(mode):
    _, ctx = context(mode)
    m = ctx.structure_mask[0]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    opened = mode.startswith("pine")
    for i in range(T):
        for j in range(T):
            di = next((d for d, r in enumerate(DOCS) if i in r), None)
            dj = next((d for d, r in enumerate(DOCS) if j in r), None)
            cross = di is not None and dj is not None and di != dj
            expected = (True if opened else False) if cross else bool(causal[i, j])
            assert bool(m[i, j]) == expected, (mode, i, j)


def test_pcw_documents_share_positions():
    _, ctx = context("pcw")
    # every document starts at 1; after them, 1 + longest (4) + offset from the query token
    assert ctx.position_ids[0].tolist() == [0, 1, 2, 3, 1, 2, 3, 4, 1, 2, 3, 5, 6, 7]


def test_pine_places_documents_by_importance_and_the_own_document_last():
    attn, ctx = context("pine")
    q, k = torch.randn(1, 4, T, 8), torch.randn(1, 4, T, 8)
    imp = attn.importance(q, k, ctx)  # (1, T, D)
    P = attn.reassigned_positions(q, k, ctx)[0]
    for i in range(T):
        if i in DOCS[0] or i in DOCS[1] or i in DOCS[2]:
            own = next(d for d, r in enumerate(DOCS) if i in r)
        elif i >= 11:
            own = None
        else:
            assert P[i].tolist() == list(range(T))  # the prefix keeps its positions
            continue
        others = sorted((d for d in range(3) if d != own), key=lambda d: float(imp[0, i, d]))
        slots = others + ([own] if own is not None else [])  # least important first (farthest)
        start = 1
        for d in slots:
            assert [int(P[i, j]) for j in DOCS[d]] == list(range(start, start + len(DOCS[d]))), (i, d)
            start += len(DOCS[d])
        assert [int(P[i, j]) for j in range(11, T)] == [11, 12, 13]  # the question keeps its positions
    # a document's tokens share one order: importance summed over the document's queries
    for r in DOCS:
        rows = [imp[0, i] for i in r]
        assert all(torch.equal(rows[0], x) for x in rows)


def permuted(ids, perm):
    docs = [ids[0, r.start:r.stop] for r in DOCS]
    return torch.cat([ids[0, :1], *[docs[p] for p in perm], ids[0, 11:]])[None]


@pytest.mark.parametrize("mode,invariant", [("pine", True), ("pcw", True), ("vanilla", False), ("nia", False),
                                            ("pine_noreorder", False)])
def test_only_pine_and_pcw_are_invariant_to_document_order(mode, invariant):
    m = model(mode, n_layer=3)
    with torch.no_grad():
        outs = [m(permuted(IDS, p)).logits[0, -1] for p in ([0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0])]
    delta = max(float((o - outs[0]).abs().max()) for o in outs[1:])
    if invariant:
        assert delta <= 1e-5, (mode, delta)  # fp32 summation order only
    else:
        assert delta > 2e-4, (mode, delta)  # a random-init model: small, but far above rounding


def test_vanilla_mode_is_the_softmax_model():
    van = model("vanilla")
    cfg = AttnLMConfig(**{**van.config.to_dict(), "attention": "softmax", "attention_options": {}})
    soft = AttnLMForCausalLM(cfg).eval()
    soft.load_state_dict(van.state_dict())
    with torch.no_grad():
        assert torch.equal(van(IDS).logits, soft(IDS).logits)


def test_prefix_lm_is_bidirectional_through_the_question_and_causal_after():
    from attnlab.attention.prefix_lm import prefix_lengths

    ids = torch.tensor([[BOS, DOC, 10, 11, QUERY, 12, 13, 14, 15], [BOS, 9, 9, 9, 9, 9, 9, 9, 9]])
    assert prefix_lengths(ids, QUERY, 2).tolist() == [7, 0]
    torch.manual_seed(0)
    cfg = AttnLMConfig(vocab_size=40, n_positions=64, n_embd=32, n_layer=2, n_head=4, attention="prefix_lm",
                       attention_options={"marker": QUERY, "offset": 2}, position_encoding="rope")
    m = AttnLMForCausalLM(cfg).eval()
    y = ids.clone()
    y[0, 6] = 20  # the last prefix token: earlier prefix outputs see it
    y[0, 8] = 21  # after the prefix: nothing before it sees it
    with torch.no_grad():
        d = (m(y).logits - m(ids).logits).abs().amax(-1)[0]
    assert d[:6].max() > 1e-4 and d[7] > 1e-4
    z = ids.clone()
    z[0, 8] = 21
    with torch.no_grad():
        assert (m(z).logits - m(ids).logits)[0, :8].abs().max() < 1e-6


def test_retrieval_qa_has_no_cue_without_the_question():
    df = TASKS["retrieval_qa"].generate(50, seed=0, n_docs=8, per_position=True)
    for ids, gold in zip(df.input_ids, df.gold_position):
        docs = np.asarray(ids[1:33]).reshape(8, 4)
        k1, k2, v = ids[-3], ids[-2], ids[-1]
        assert (docs[:, 1] == k1).sum() >= 2 and (docs[:, 2] == k2).sum() >= 2  # one key alone is ambiguous
        assert ((docs[:, 1] == k1) & (docs[:, 2] == k2)).sum() == 1 and docs[gold, 3] == v
        # every document's keys occur equally often: key counts do not single out the gold document
        counts = [(docs[:, 1] == d[1]).sum() * 10 + (docs[:, 2] == d[2]).sum() for d in docs]
        assert len(set(counts)) == 1
        assert len(set(docs[:, 3])) == 8
    assert sorted(set(df.gold_position)) == list(range(8))


def test_twohop_needs_both_the_entity_and_the_relations():
    for order in ("forward", "backward", "forward_1", "forward_3", "random"):
        df = TASKS["twohop"].generate(30, seed=1, order=order)
        for ids, g1, g2 in zip(df.input_ids, df.gold1_slot, df.gold2_slot):
            facts = np.asarray(ids[1:25]).reshape(6, 4)[:, 1:]
            x, r1, r2, z = ids[-5], ids[-4], ids[-3], ids[-2]
            hop = {(a, r): b for a, r, b in facts}
            assert hop[(hop[(x, r1)], r2)] == z
            assert tuple(facts[g1]) == (x, r1, hop[(x, r1)]) and facts[g2][2] == z
            # the entity alone reaches two chains; the relations alone reach two chains
            from_x = [b for a, r, b in facts if a == x]
            assert len(from_x) == 2
            r_chains = [hop.get((b, r2)) for a, r, b in facts if r == r1]
            assert len(r_chains) == 2 and z in r_chains
            # the answer occurs once in the context, as an object; so do the other chains' ends
            assert (facts[:, 2] == z).sum() == 1 and (facts[:, 0] == z).sum() == 0
        if order == "forward":
            assert set(df.gold1_slot) == {0} and set(df.gold2_slot) == {1}
        if order == "backward":
            assert set(df.gold1_slot) == {1} and set(df.gold2_slot) == {0}
        if order.startswith("forward_"):
            k = int(order[-1])
            assert set(df.gold2_slot) == {5} and set(df.gold1_slot) == {4 - k}


def test_document_orders_place_the_gold_documents():
    rng = np.random.default_rng(0)
    assert place("forward", rng)[:2].tolist() == [0, 1]
    assert place("forward_3", rng)[:2].tolist() == [1, 5]


def test_encdec_rows_split_the_answer_off_the_same_two_hop_files():
    from attnlab.multihop_mask.encdec import to_seq2seq

    df = TASKS["twohop"].generate(3, seed=2, order="random")
    s2s = to_seq2seq(df)
    for ids, src, tgt, m in zip(df.input_ids, s2s.input_ids, s2s.target_ids, s2s.target_mask):
        assert list(src) + list(tgt) == list(ids) and src[-4] == QUERY and list(m) == [True, False]


def test_extra_training_questions_ask_the_other_chains_and_documents():
    df = TASKS["twohop"].generate(5, seed=3, n_questions=3)
    for ids, m in zip(df.input_ids, df.target_mask):
        facts = np.asarray(ids[1:25]).reshape(6, 4)[:, 1:]
        hop = {(a, r): b for a, r, b in facts}
        qs = np.asarray(ids[25:40]).reshape(3, 5)
        assert (qs[:, 0] == QUERY).all() and list(np.flatnonzero(m)) == [29, 34, 39]
        assert {hop[(hop[(e, r1)], r2)] for _, e, r1, r2, _ in qs} == set(qs[:, 4])  # each answer is its chain's end
        assert all(hop[(hop[(e, r1)], r2)] == a for _, e, r1, r2, a in qs)
    df = TASKS["retrieval_qa"].generate(5, seed=3, n_questions=8)
    for ids, m in zip(df.input_ids, df.target_mask):
        docs = np.asarray(ids[1:33]).reshape(8, 4)
        qs = np.asarray(ids[33:]).reshape(8, 4)
        assert m.sum() == 8 and sorted(map(tuple, qs[:, 1:])) == sorted(map(tuple, docs[:, 1:]))

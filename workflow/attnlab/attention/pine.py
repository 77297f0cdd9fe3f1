"""PINE: position-invariant inference over documents (Wang et al. 2025, arXiv 2407.01100, §3.3),
an inference option on a model trained with plain causal rotary attention (no parameters of its own,
so a trained softmax model's weights load into it unchanged).

The documents of a sequence are found by token ids: each `doc_token` starts a document, the first
`query_token` ends the last one; tokens before the first document are the prefix, tokens from the
query token on come after the documents. A sequence without a query token has no documents (the
mechanism is then plain causal attention). `mode` picks one of the paper's variants:

- "vanilla": causal attention, original positions (exactly `softmax`);
- "nia": no inter-document attention (a document sees only itself and the prefix);
- "pcw": NIA, and every document starts at the same position (parallel context windows); the
  tokens after the documents continue from the longest document;
- "pine_noreorder": documents see each other fully (inside a document attention stays causal;
  tokens after the documents see every document), original positions;
- "pine": that mask, and positions re-assigned per query: documents are ordered by their
  importance to the query, Imp(i, D) = Σ_{j∈D} softmax(q_i k_jᵀ/√d)_j / |D| computed without
  positions over the query's allowed keys (averaged over heads: one order per query and layer;
  for a document's tokens, summed over that document's tokens), the query's own document last,
  more important documents closer to the query; key j gets the position of its document's slot
  plus its offset in the document, the query its own such position (its document is last), so
  score(i, j) = q_i·R(p_i(i) − p_i(j))·k_j (per-query key positions: `AttentionContext.key_positions`).

PCW and PINE are exactly invariant to the order of the documents (up to fp32 summation order);
vanilla, NIA and PINE without re-assignment are not. Everything is computed with tensor ops only (no
branch on values), so it runs under torch.func.vmap. Needs rotary positions for "pcw" and "pine".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from attnlab.attention.base import Attention, AttentionContext, masked_softmax

MODES = ("vanilla", "nia", "pcw", "pine_noreorder", "pine")
INVARIANT_MODES = ("pcw", "pine")


@dataclass
class PineContext(AttentionContext):
    doc: torch.Tensor | None = None  # (batch, pos) int: the token's document (0, 1, ...), -1 outside documents
    offset: torch.Tensor | None = None  # (batch, pos) int: the token's position minus its document's first position
    doc_len: torch.Tensor | None = None  # (batch, pos) int: length of document d at index d (0 beyond the last)
    docs_start: torch.Tensor | None = None  # (batch,) int: the position of the first document's first token


def find_documents(input_ids: torch.Tensor, doc_token: int, query_token: int):
    """(doc, in_doc, after) for (batch, pos) ids: each token's document index (-1 outside), whether
    it is inside a document, whether it is at or after the query token."""
    starts = input_ids == doc_token
    is_q = input_ids == query_token
    after = is_q.cumsum(-1) > 0
    has_q = is_q.any(-1, keepdim=True)
    in_doc = (starts.cumsum(-1) > 0) & ~after & has_q
    doc = torch.where(in_doc, starts.long().cumsum(-1) - 1, torch.full_like(input_ids, -1))
    return doc, in_doc, after & has_q


class PineAttention(Attention):
    def __init__(self, config, layer_idx: int = 0, *, doc_token: int, query_token: int, mode: str = "pine"):
        super().__init__(config, layer_idx)
        if mode not in MODES:
            raise ValueError(f"pine: mode must be one of {MODES}, got {mode!r}")
        self.doc_token, self.query_token, self.mode = doc_token, query_token, mode

    def prepare(self, ctx: AttentionContext, input_ids: torch.Tensor) -> AttentionContext:
        if self.mode == "vanilla":
            return ctx
        B, T = input_ids.shape
        doc, in_doc, after = find_documents(input_ids, self.doc_token, self.query_token)
        pos = ctx.position_ids
        i = torch.arange(T, device=input_ids.device)
        # each token's document start (position of the latest doc token up to it) and offset
        start_idx = torch.where(input_ids == self.doc_token, i, torch.zeros_like(i)).cummax(-1).values
        offset = torch.where(in_doc, pos - pos.gather(-1, start_idx), torch.zeros_like(pos))
        doc_len = torch.zeros(B, T, dtype=torch.long, device=input_ids.device).scatter_add(
            -1, doc.clamp(min=0), in_doc.long())
        first_doc = (input_ids == self.doc_token).long().argmax(-1, keepdim=True)  # 0 when there is none
        docs_start = pos.gather(-1, first_doc)[:, 0]
        # the mask
        # the pattern given (causal by default) with its inter-document block opened (PINE) or closed (NIA, PCW)
        base = ctx.structure_mask
        if base is None:
            base = torch.ones(T, T, dtype=torch.bool, device=input_ids.device).tril()[None]
        cross = in_doc[:, :, None] & in_doc[:, None, :] & (doc[:, :, None] != doc[:, None, :])
        mask = base & ~cross if self.mode in ("nia", "pcw") else base | cross
        if self.mode == "pcw":  # every document from docs_start; after them, from docs_start + longest
            q_idx = after.long().argmax(-1, keepdim=True)
            after_pos = docs_start[:, None] + doc_len.max(-1, keepdim=True).values + pos - pos.gather(-1, q_idx)
            pos = torch.where(in_doc, docs_start[:, None] + offset, torch.where(after, after_pos, pos))
        return PineContext(**{**vars(ctx), "structure_mask": mask, "position_ids": pos, "doc": doc,
                              "offset": offset, "doc_len": doc_len, "docs_start": docs_start})

    def positions(self, q: torch.Tensor, k: torch.Tensor, ctx: AttentionContext) -> AttentionContext:
        if self.mode != "pine" or ctx.rope_theta is None:
            return ctx
        key_positions = self.reassigned_positions(q, k, ctx)
        # a document's query sits where it sees itself (its document last); other queries stay
        query_pos = torch.where(ctx.doc >= 0, key_positions.diagonal(dim1=-2, dim2=-1), ctx.position_ids)
        return dataclasses.replace(ctx, position_ids=query_pos, key_positions=key_positions)

    def importance(self, q: torch.Tensor, k: torch.Tensor, ctx: PineContext) -> torch.Tensor:
        """(batch, query, document) Imp(i, D): mean attention probability (without positions,
        over the query's allowed keys, averaged over heads) of query i on D's tokens; a document
        query's row is the sum over its document's tokens."""
        T = q.shape[-2]
        p = masked_softmax(self.scores(q, k), self.structure(T, ctx)).mean(1)  # (batch, query, key)
        in_doc = ctx.doc >= 0
        onehot = torch.nn.functional.one_hot(ctx.doc.clamp(min=0), T).to(p.dtype) * in_doc[..., None]  # (b, key, D)
        imp = (p @ onehot) / ctx.doc_len.clamp(min=1)[:, None, :].to(p.dtype)  # (batch, query, D)
        per_doc = onehot.transpose(1, 2) @ imp  # (batch, D, D): summed over each document's queries
        own = torch.einsum("bqd,bde->bqe", onehot, per_doc)  # a document query's row: its document's sum
        return torch.where(in_doc[..., None], own, imp)

    def reassigned_positions(self, q, k, ctx: PineContext) -> torch.Tensor:
        """(batch, query, key) int positions: for each query, documents by ascending importance
        (own document last), packed from docs_start; keys outside documents keep their positions
        (the context's key_positions when given)."""
        T = q.shape[-2]
        imp = self.importance(q, k, ctx)  # (batch, query, D)
        exists = (ctx.doc_len > 0)[:, None, :]
        in_doc = ctx.doc >= 0
        own = torch.nn.functional.one_hot(ctx.doc.clamp(min=0), T).bool() & in_doc[..., None]  # (b, query, D)
        score = torch.where(exists, imp, torch.full_like(imp, -1.0))  # empty slots first (length 0)
        score = torch.where(own, torch.full_like(imp, T + 1.0), score)  # importance <= T: own document last
        order = score.argsort(dim=-1, stable=True)  # (batch, query, D): slot -> document
        lens = ctx.doc_len[:, None, :].expand_as(score)
        sorted_len = lens.gather(-1, order)
        slot_start = sorted_len.cumsum(-1) - sorted_len  # exclusive
        doc_start = torch.zeros_like(slot_start).scatter(-1, order, slot_start)  # (batch, query, D)
        key_doc_start = doc_start.gather(-1, ctx.doc.clamp(min=0)[:, None, :].expand(-1, T, -1))  # (b, q, key)
        doc_pos = ctx.docs_start[:, None, None] + key_doc_start + ctx.offset[:, None, :]
        given = ctx.key_positions if ctx.key_positions is not None else ctx.position_ids[:, None, :].expand(-1, T, -1)
        return torch.where(in_doc[:, None, :], doc_pos, given)

    def extra_repr(self):
        return f"{super().extra_repr()}, mode={self.mode}, doc_token={self.doc_token}, query_token={self.query_token}"

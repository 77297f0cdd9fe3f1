"""Meta-tokens with meta-attention (Shah et al. 2025, arXiv 2509.16278, Sec. 3).

After the ordinary causal attention of a layer, a meta-attention with its own weights runs on the
updated residual stream:   softmax(QKᵀ/√d + M + P) · V
where M is the causal mask and P is open only between meta-tokens (so only meta-token queries
attend, and only to earlier meta-tokens; other positions receive nothing from it). The layer's
output is the sum of both. With `zero_meta_positions`, meta-tokens get rotary position 0, i.e.
no positional rotation — the paper's "zeroing positional encoding at meta positions".
Meta-tokens (id `meta_token_id`, an option of this mechanism) are inserted into the data, not by
this module; `prepare` finds them in the input ids.
Hook points: the causal part's `hook_pattern`/`hook_z`, and `meta.hook_pattern`/`meta.hook_z`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from attnlab.attention.base import Attention, AttentionContext, apply_rotary, causal_mask, masked_softmax


@dataclass
class MetaContext(AttentionContext):
    meta_positions: torch.Tensor | None = None  # (batch, pos) bool, True = a meta-token


class MetaOnlyAttention(Attention):
    """Softmax attention restricted to (meta query, earlier meta key) pairs; needs a MetaContext."""

    def allowed(self, T, ctx: MetaContext):
        meta = ctx.meta_positions
        return super().allowed(T, ctx) & meta[:, None, :, None] & meta[:, None, None, :]

    def forward(self, x, ctx: MetaContext):
        if not self.gathered(x, ctx):
            return super().forward(x, ctx)
        return self.forward_gathered(x, ctx), None

    def gathered(self, x, ctx: MetaContext) -> bool:
        """Whether this call may run on the meta-tokens alone: nobody reads a per-position
        activation of this part (hooks, the pattern), the context is the plain causal one (up to
        padding keys) and nothing is batched under vmap."""
        hooks = (self.hook_q, self.hook_k, self.hook_v, self.hook_scores, self.hook_pattern, self.hook_z)
        return (not any(h.active for h in hooks) and not ctx.output_attentions and ctx.cache is None
                and ctx.structure_mask is None and ctx.segment_ids is None and ctx.key_positions is None
                and ctx.past_len == 0 and not torch._C._functorch.is_batchedtensor(x))

    def forward_gathered(self, x, ctx: MetaContext):
        """The same function as the full path, computed on the meta-tokens only: every other
        position's output is zero before the output projection (its bias alone), so the projections
        and the attention need only the M meta-tokens of each sequence (about meta_rate of T), gathered
        in order (causal among them is causal in the sequence), padded to the batch's largest M."""
        B, T, D = x.shape
        meta = ctx.meta_positions if ctx.key_padding is None else ctx.meta_positions & ctx.key_padding
        counts = meta.sum(1)
        # at least one slot, so a batch without meta-tokens still gives the weights (zero) gradients
        M = max(1, int(counts.max()))
        index = torch.argsort((~meta).to(torch.int8), dim=1, stable=True)[:, :M]  # meta positions first, in order
        valid = torch.arange(M, device=x.device)[None] < counts[:, None]  # (B, M)
        xm = x.gather(1, index[..., None].expand(B, M, D))
        q, k, v = self.c_attn(xm).view(B, M, 3, self.n_head, self.head_dim).unbind(2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, M, d_head)
        if ctx.rope_theta is not None:
            positions = ctx.position_ids.gather(1, index)
            q, k = (apply_rotary(t, positions, ctx.rope_theta) for t in (q, k))
        allowed = causal_mask(M, x.device)[None, None] & valid[:, None, None, :]
        allowed = allowed | torch.eye(M, dtype=torch.bool, device=x.device)  # a padding row sees itself
        z = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed).transpose(1, 2).flatten(2)
        y = F.linear(z, self.c_proj.weight) * valid[..., None]  # (B, M, D); padding rows add nothing
        out = self.c_proj.bias.expand(B, T, D)
        # under autocast y is bf16 and the bias fp32: scatter in the bias's (the residual stream's) dtype
        return out.scatter_add(1, index[..., None].expand(B, M, D), y.to(out.dtype))

    def attend(self, q, k, v, ctx):
        allowed = self.allowed(q.shape[-2], ctx)
        # explicit path: when a pattern is asked for, for per-query keys (ctx.key_positions) and under
        # vmap (no batching rule for the fused kernel)
        if not self.pattern_asked(ctx) and k.dim() == q.dim() and not torch._C._functorch.is_batchedtensor(q):
            # fused kernel: an ordinary token's row, empty here (NaN in a fused kernel), is opened on its
            # own key and its output zeroed, which leaves it (and its gradient) zero as in the explicit path
            T = q.shape[-2]
            own = torch.eye(T, dtype=torch.bool, device=q.device)
            z = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed | own)
            return z * allowed.any(-1, keepdim=True), None
        pattern = self.hook_pattern(masked_softmax(self.hook_scores(self.scores(q, k)), allowed))
        return pattern @ v, pattern


class MetaAttention(Attention):
    """Causal softmax attention followed by meta-attention among the meta-tokens."""

    def __init__(self, config, layer_idx: int = 0, *, meta_token_id: int, zero_meta_positions: bool = False):
        super().__init__(config, layer_idx)
        self.meta_token_id = meta_token_id
        self.zero_meta_positions = zero_meta_positions
        self.meta = MetaOnlyAttention(config, layer_idx)

    def prepare(self, ctx, input_ids):
        meta = input_ids == self.meta_token_id
        positions = ctx.position_ids.masked_fill(meta, 0) if self.zero_meta_positions else ctx.position_ids
        return MetaContext(**{**vars(ctx), "position_ids": positions, "meta_positions": meta})

    def forward(self, x, ctx: MetaContext):
        y, pattern = super().forward(x, ctx)
        y_meta, _ = self.meta(x + y, ctx)
        return y + y_meta, pattern

    def extra_repr(self):
        return (f"{super().extra_repr()}, meta_token_id={self.meta_token_id}, "
                f"zero_meta_positions={self.zero_meta_positions}")

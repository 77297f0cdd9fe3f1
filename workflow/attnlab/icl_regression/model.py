"""One layer of multi-head attention on in-context regression prompts (arXiv 2503.12734, Sec. 2):

    ŷ = Σ_h O_h V_h Z · attn(Zᵀ K_hᵀ Q_h z_q / √(d+1))

Q_h, K_h, V_h ∈ R^{(d+1)×(d+1)} and O_h ∈ R^{1×(d+1)} per head; no positional encoding; the
query attends to the L context tokens only. `attn` is a mechanism from attention.py (softmax,
or linear attention with a 1/L or a fixed 1/L_train factor).

A plain torch module rather than a transformers PreTrainedModel: importing transformers costs
~6 s per process, more than training one of these models takes at mini scale. A run directory
(config.json + model.safetensors) loads with `ICLAttention.from_run_dir(path)`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from attnlab.icl_regression.attention import MECHANISMS


class ICLAttention(nn.Module):
    def __init__(self, d: int, heads: int, mechanism: str, train_length: int):
        super().__init__()
        if mechanism not in MECHANISMS:
            raise ValueError(f"unknown mechanism {mechanism!r} (choose from {sorted(MECHANISMS)})")
        self.config = {"d": d, "heads": heads, "mechanism": mechanism, "train_length": train_length}
        D = d + 1
        self.w_q = nn.Parameter(torch.empty(heads, D, D))
        self.w_k = nn.Parameter(torch.empty(heads, D, D))
        self.w_v = nn.Parameter(torch.empty(heads, D, D))
        self.w_o = nn.Parameter(torch.empty(heads, D))
        # nn.Linear's default init, as in the paper's code: U(±1/√fan_in)
        for w in (self.w_q, self.w_k, self.w_v):
            nn.init.uniform_(w, -1 / math.sqrt(D), 1 / math.sqrt(D))
        nn.init.uniform_(self.w_o, -1 / math.sqrt(heads * D), 1 / math.sqrt(heads * D))

    def kq(self) -> torch.Tensor:
        """KQ_h = W_Kᵀ W_Q / √(d+1), (H, d+1, d+1): score of token z_l is z_lᵀ KQ_h z_q."""
        return kq_matrix(self.w_q, self.w_k)

    def ov(self) -> torch.Tensor:
        """OV_h = O_h V_h, (H, d+1): the value each head reads off token z_l is OV_h z_l."""
        return ov_vector(self.w_o, self.w_v)

    def forward(self, z: torch.Tensor, zq: torch.Tensor, per_head: bool = False) -> torch.Tensor:
        """z: (B, L, d+1) context tokens, zq: (B, d+1) query → ŷ (B,), or (B, H) per head."""
        return predict(self.kq(), self.ov(), z, zq, self.config["mechanism"], self.config["train_length"],
                       per_head)

    def save_run(self, run_dir) -> None:
        run_dir = Path(run_dir)
        (run_dir / "config.json").write_text(json.dumps(self.config, indent=2) + "\n")
        save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()},
                  str(run_dir / "model.safetensors"))

    @classmethod
    def from_run_dir(cls, run_dir) -> "ICLAttention":
        run_dir = Path(run_dir)
        model = cls(**json.loads((run_dir / "config.json").read_text()))
        model.load_state_dict(load_file(str(run_dir / "model.safetensors")))
        return model.eval()


def kq_matrix(w_q: torch.Tensor, w_k: torch.Tensor) -> torch.Tensor:
    """W_Kᵀ W_Q / √(d+1) per head; any leading dimensions (e.g. a stack of seeds) ride along."""
    return w_k.transpose(-1, -2) @ w_q / math.sqrt(w_q.shape[-1])


def ov_vector(w_o: torch.Tensor, w_v: torch.Tensor) -> torch.Tensor:
    return (w_o.unsqueeze(-2) @ w_v).squeeze(-2)


def predict(kq: torch.Tensor, ov: torch.Tensor, z: torch.Tensor, zq: torch.Tensor, mechanism: str,
            train_length: int, per_head: bool = False) -> torch.Tensor:
    """ŷ from KQ (..., H, D, D), OV (..., H, D), tokens z (..., B, L, D) and queries zq (..., B, D);
    the leading dimensions `...` (none for one model, seeds for a stack) must agree."""
    a = torch.einsum("...hij,...bj->...bhi", kq, zq)
    scores = torch.einsum("...bli,...bhi->...bhl", z, a)
    weights = MECHANISMS[mechanism](scores, train_length)
    values = torch.einsum("...bli,...hi->...bhl", z, ov)
    out = (weights * values).sum(-1)
    return out if per_head else out.sum(-1)


def prompt_tensors(x, y) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x (n, L+1, d), y (n, L+1) with the query last → tokens z (n, L, d+1), query z_q = [x_q; 0]
    (n, d+1) and the target y_q (n,), as float32 tensors."""
    x = torch.tensor(x, dtype=torch.float32)  # a copy: test arrays may be read-only views
    y = torch.tensor(y, dtype=torch.float32)
    z = torch.cat([x[:, :-1], y[:, :-1, None]], dim=-1)
    zq = torch.cat([x[:, -1], torch.zeros(len(x), 1)], dim=-1)
    return z, zq, y[:, -1]

"""One layer of multi-head attention on in-context regression prompts (arXiv 2503.12734, Sec. 2):

    ŷ = Σ_h O_h V_h Z · attn(Zᵀ K_hᵀ Q_h z_q / √(d+1))

Q_h, K_h, V_h ∈ R^{(d+1)×(d+1)} and O_h ∈ R^{1×(d+1)} per head; no positional encoding; the
query attends to the L context tokens only. `attn` is a mechanism from attention.py (softmax,
or linear attention with a 1/L or a fixed 1/L_train factor).

A transformers model: a run directory (config.json + model.safetensors, and the model's code,
see attnlab.remote_code) loads with `AutoModel.from_pretrained(path)` after `import attnlab`, or
with `trust_remote_code=True` where attnlab is not installed.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers import initialization as init

from attnlab.icl_regression.attention import MECHANISMS
from attnlab.remote_code import SelfDescribingModel


class ICLConfig(PretrainedConfig):
    """
    d:             dimension of the covariates x (tokens are z = [x; y] ∈ R^{d+1})
    heads:         number of attention heads H
    mechanism:     a key of `attnlab.icl_regression.attention.MECHANISMS`
    train_length:  the training prompt length L_train (the fixed factor of "linear-fixed")
    """

    model_type = "attnlab_icl_regression"

    d: int = 5
    heads: int = 1
    mechanism: str = "softmax"
    train_length: int = 40

    def __post_init__(self, **kwargs):
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"unknown mechanism {self.mechanism!r} (choose from {sorted(MECHANISMS)})")
        super().__post_init__(**kwargs)


class ICLAttention(SelfDescribingModel, PreTrainedModel):
    config_class = ICLConfig
    base_model_prefix = "icl"
    main_input_name = "z"

    def __init__(self, config: ICLConfig):
        super().__init__(config)
        D, H = config.d + 1, config.heads
        self.w_q = nn.Parameter(torch.empty(H, D, D))
        self.w_k = nn.Parameter(torch.empty(H, D, D))
        self.w_v = nn.Parameter(torch.empty(H, D, D))
        self.w_o = nn.Parameter(torch.empty(H, D))
        self.post_init()

    def _init_weights(self, module):
        if module is not self:
            return
        # nn.Linear's default init, as in the paper's code: U(±1/√fan_in)
        D, H = self.config.d + 1, self.config.heads
        for w in (self.w_q, self.w_k, self.w_v):
            init.uniform_(w, -1 / math.sqrt(D), 1 / math.sqrt(D))
        init.uniform_(self.w_o, -1 / math.sqrt(H * D), 1 / math.sqrt(H * D))

    def kq(self) -> torch.Tensor:
        """KQ_h = W_Kᵀ W_Q / √(d+1), (H, d+1, d+1): score of token z_l is z_lᵀ KQ_h z_q."""
        return kq_matrix(self.w_q, self.w_k)

    def ov(self) -> torch.Tensor:
        """OV_h = O_h V_h, (H, d+1): the value each head reads off token z_l is OV_h z_l."""
        return ov_vector(self.w_o, self.w_v)

    def forward(self, z: torch.Tensor, zq: torch.Tensor, per_head: bool = False) -> torch.Tensor:
        """z: (B, L, d+1) context tokens, zq: (B, d+1) query → ŷ (B,), or (B, H) per head."""
        return predict(self.kq(), self.ov(), z, zq, self.config.mechanism, self.config.train_length, per_head)

    @classmethod
    def from_run_dir(cls, run_dir) -> "ICLAttention":
        """The trained model of a run directory (`from_pretrained`, in eval mode)."""
        return cls.from_pretrained(run_dir).eval()


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

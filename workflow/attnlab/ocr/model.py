"""The one-layer, single-head, attention-only transformer of the OCR paper (Sec. 3):

    f(X) = W_OVᵀ Xᵀ softmax(X W_KQ x_T)

X holds the one-hot tokens [s, r]; the last token x_T queries. W_KQ is a full V×V matrix,
zero-initialised. W_OV is either one trainable V×V matrix ("combined") or the product of
two, W_V (V×d_h) · W_O (d_h×V) ("factorized"), whose implicit bias toward small nuclear
norm is what makes out-of-context reasoning generalise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from attnlab.remote_code import SelfDescribingModel


class OCRConfig(PretrainedConfig):
    model_type = "attnlab_ocr"

    def __init__(self, vocab_size: int = 242, head_dim: int | None = 16,
                 parametrization: str = "factorized", init_std: float = 0.01, **kwargs):
        if parametrization not in ("factorized", "combined"):
            raise ValueError(f"parametrization must be 'factorized' or 'combined', got {parametrization!r}")
        self.vocab_size = vocab_size
        self.head_dim = head_dim if parametrization == "factorized" else None
        self.parametrization = parametrization
        self.init_std = init_std
        super().__init__(**kwargs)


@dataclass
class OCROutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    attentions: torch.Tensor | None = None


class OCRTransformer(SelfDescribingModel, PreTrainedModel):
    config_class = OCRConfig
    base_model_prefix = "ocr"

    def __init__(self, config: OCRConfig):
        super().__init__(config)
        V = config.vocab_size
        self.w_kq = nn.Parameter(torch.zeros(V, V))
        if config.parametrization == "factorized":
            self.w_v = nn.Parameter(torch.zeros(V, config.head_dim))
            self.w_o = nn.Parameter(torch.zeros(config.head_dim, V))
        else:
            self.w_ov_full = nn.Parameter(torch.zeros(V, V))
        self.post_init()

    def _init_weights(self, module):
        if module is not self:
            return
        with torch.no_grad():
            self.w_kq.zero_()  # the paper initialises W_KQ at zero
            for name, p in self.named_parameters():
                if name != "w_kq":
                    p.normal_(0.0, self.config.init_std)

    def w_ov(self) -> torch.Tensor:
        """The effective V×V output-value matrix (row: attended token, column: output logit)."""
        if self.config.parametrization == "factorized":
            return self.w_v @ self.w_o
        return self.w_ov_full

    def _ov_rows(self, input_ids):
        if self.config.parametrization == "factorized":
            return self.w_v[input_ids] @ self.w_o
        return self.w_ov_full[input_ids]

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor | None = None, **kwargs) -> OCROutput:
        query = input_ids[:, -1:]  # x_T: the relation token
        scores = self.w_kq[input_ids, query]  # x_jᵀ W_KQ x_T for every position j: (B, T)
        attn = scores.softmax(dim=-1)
        logits = (attn.unsqueeze(-1) * self._ov_rows(input_ids)).sum(dim=1)  # (B, V)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return OCROutput(loss=loss, logits=logits, attentions=attn)


def tensors(df, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The (subject, relation) inputs and answer targets of one split of an OCR data frame."""
    part = df[df["split"] == split]
    x = torch.tensor(part[["subject", "relation"]].to_numpy(), dtype=torch.long)
    y = torch.tensor(part["answer"].to_numpy(), dtype=torch.long)
    return x, y

"""TokenLayout: where the image, question and answer sit in each sequence (vlm_design §2.1), the
rotary positions of the image tokens (raster / reversed / concentric) and the structure mask.

Token types: 0 BOS/text (and padding), 1 image, 2 question, 3 answer. One image per sequence: its
`image_seq_length` placeholders form one contiguous span in raster order (row-major patches).
Spans are [start, end) per sample; an absent span is (0, 0).

Positions (as CCA's official code, github.com/xing0047/cca-llava, llava/cca_utils/cca.py):
- raster:     0, 1, ..., T-1 (left padding: real tokens count from 0);
- reversed:   the image tokens' positions reversed inside the span;
- concentric: image token (r, c) sits at p0 + ring(r, c), ring 0 the outermost of the G/2 rings,
  and every token after the image moves down by N − G/2 (the image occupies G/2 positions).
Structure mask (B, 1, T, T), True = allowed: causal, except that inside the image span a query
reads exactly the image keys whose position is ≤ its own (raster: causal; reversed: the mirrored
triangle; concentric: outer rings and its own ring, CCA's concentric causal block);
`modality_mutual="question"` (AKI) also lets image rows read the question's columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

TEXT, IMAGE, QUESTION, ANSWER = 0, 1, 2, 3


@dataclass
class TokenLayout:
    token_type: torch.Tensor  # (B, T) long
    grid_rc: torch.Tensor  # (B, T, 2) long: (row, col) of image tokens, -1 elsewhere
    image_span: torch.Tensor  # (B, 2) long [start, end)
    question_span: torch.Tensor  # (B, 2)
    answer_span: torch.Tensor  # (B, 2)

    @property
    def is_image(self) -> torch.Tensor:
        return self.token_type == IMAGE

    @property
    def is_question(self) -> torch.Tensor:
        return self.token_type == QUESTION

    @property
    def is_answer(self) -> torch.Tensor:
        return self.token_type == ANSWER

    @classmethod
    def build(cls, input_ids: torch.Tensor, image_token_id: int, grid_size: int,
              attention_mask: torch.Tensor | None = None, answer_mask: torch.Tensor | None = None,
              answer_start: int | torch.Tensor | None = None) -> "TokenLayout":
        """From token ids. The answer is `answer_mask` ((B, T) bool, e.g. labels != -100), or every
        position from `answer_start` (an int or (B,) ints: the prompt length, in generation) on;
        the question is every real non-image token after the image (after BOS without one) that is
        not answer."""
        B, T = input_ids.shape
        dev = input_ids.device
        real = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        pos = torch.arange(T, device=dev).expand(B, T)
        is_image = input_ids == image_token_id
        n_img = is_image.sum(-1)
        N = grid_size * grid_size
        if not bool(((n_img == 0) | (n_img == N)).all()):
            raise ValueError(f"each sequence must hold 0 or {N} <image> tokens (one image), got {n_img.tolist()}")
        start = torch.where(n_img > 0, torch.where(is_image, pos, T).min(-1).values, 0)
        end = torch.where(n_img > 0, start + N, 0)
        inside = (pos >= start[:, None]) & (pos < end[:, None])
        if not bool((inside == is_image).all()):
            raise ValueError("the <image> tokens of a sequence must be contiguous")
        if answer_mask is None:
            answer_mask = torch.zeros_like(is_image)
            if answer_start is not None:
                a = torch.as_tensor(answer_start, device=dev).reshape(-1, 1)
                answer_mask = pos >= a
        answer_mask = answer_mask & real & ~is_image
        first_text = torch.where(real, pos, T).min(-1).values  # BOS (after any left padding)
        after = torch.where(n_img > 0, end, first_text + 1)
        question = real & ~is_image & ~answer_mask & (pos >= after[:, None])
        token_type = torch.zeros_like(input_ids)
        token_type[is_image] = IMAGE
        token_type[question] = QUESTION
        token_type[answer_mask] = ANSWER
        k = (pos - start[:, None]).clamp(min=0)
        grid_rc = torch.stack([k // grid_size, k % grid_size], -1)
        grid_rc = torch.where(is_image[..., None], grid_rc, -1)
        return cls(token_type=token_type, grid_rc=grid_rc, image_span=torch.stack([start, end], -1),
                   question_span=_span(question), answer_span=_span(answer_mask))

    def position_ids(self, order: str, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) rotary positions for `order` ∈ raster | reversed | concentric (module docstring)."""
        B, T = self.token_type.shape
        if attention_mask is None:
            base = torch.arange(T, device=self.token_type.device).expand(B, T).clone()
        else:
            base = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        if order == "raster":
            return base
        is_image = self.is_image
        if not bool(is_image.any()):
            return base
        start = self.image_span[:, 0]
        p0 = base.gather(1, start[:, None])  # position of the first image token
        k = torch.arange(T, device=base.device)[None] - start[:, None]
        n = (self.image_span[:, 1] - self.image_span[:, 0])[:, None]
        if order == "reversed":
            return torch.where(is_image, p0 + n - 1 - k, base)
        if order == "concentric":
            G = int(round(float(n.max()) ** 0.5))
            r, c = self.grid_rc[..., 0], self.grid_rc[..., 1]
            ring = torch.minimum(torch.minimum(r, c), torch.minimum(G - 1 - r, G - 1 - c))
            after = (k >= n) & (n > 0)
            shifted = torch.where(after, base - n + G // 2, base)
            return torch.where(is_image, p0 + ring, shifted)
        raise ValueError(f"unknown image_position_order {order!r}")

    def structure(self, position_ids: torch.Tensor, modality_mutual: str = "none") -> torch.Tensor:
        """(B, 1, T, T) bool, True = allowed (module docstring)."""
        B, T = self.token_type.shape
        dev = self.token_type.device
        mask = torch.ones(T, T, dtype=torch.bool, device=dev).tril().expand(B, T, T).clone()
        img = self.is_image
        both = img[:, :, None] & img[:, None, :]
        by_position = position_ids[:, None, :] <= position_ids[:, :, None]  # key position ≤ query position
        mask = torch.where(both, by_position, mask)
        if modality_mutual == "question":
            mask = mask | (img[:, :, None] & self.is_question[:, None, :])
        elif modality_mutual != "none":
            raise ValueError(f"unknown modality_mutual {modality_mutual!r}")
        return mask[:, None]


def _span(mask: torch.Tensor) -> torch.Tensor:
    """(B, T) bool -> (B, 2) [first, last + 1) of the True positions, (0, 0) when none."""
    B, T = mask.shape
    pos = torch.arange(T, device=mask.device).expand(B, T)
    has = mask.any(-1)
    first = torch.where(mask, pos, T).min(-1).values
    last = torch.where(mask, pos, -1).max(-1).values + 1
    return torch.stack([torch.where(has, first, 0), torch.where(has, last, 0)], -1)


def needs_structure(order: str, modality_mutual: str) -> bool:
    """False when the structure mask is the plain causal one (the LM then takes its fused path)."""
    return order != "raster" or modality_mutual != "none"

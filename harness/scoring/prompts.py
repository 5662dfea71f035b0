"""A PromptSet as the tensors a scan reads, on the model's device (`Prompts`, `as_prompts`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass
class Prompts:
    """The parts of a PromptSet a scan reads, as tensors on the model's device."""

    tokens: torch.Tensor  # (N, T) long, right-padded
    corrupt_tokens: torch.Tensor  # (N, T) long
    last_pos: torch.Tensor  # (N,) long
    correct: torch.Tensor  # (N,) long
    distractor: torch.Tensor  # (N,) long
    group: torch.Tensor  # (N,) long: template index in 0..G-1
    n_groups: int

    def __len__(self) -> int:
        return int(self.tokens.shape[0])


def as_prompts(prompts: Any, device: torch.device) -> Prompts:
    """Tensors of `prompts` (a harness.ioi_dataset.PromptSet, or already `Prompts`) on `device`,
    checked for right padding: the scans pass no attention mask, which is exact only when padding
    follows the real tokens."""
    if isinstance(prompts, Prompts):
        return prompts
    mask = np.asarray(prompts.attention_mask)
    last_pos = np.asarray(prompts.last_pos)
    expected = np.arange(mask.shape[1])[None, :] <= last_pos[:, None]
    if not np.array_equal(mask.astype(bool), expected):
        raise ValueError("prompts must be right-padded: attention_mask == (position <= last_pos)")
    _, group = np.unique(np.asarray(prompts.template_id), return_inverse=True)

    def as_long(a: Any) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=torch.long, device=device)

    return Prompts(
        tokens=as_long(prompts.tokens),
        corrupt_tokens=as_long(prompts.corrupt_tokens),
        last_pos=as_long(last_pos),
        correct=as_long(prompts.correct_id),
        distractor=as_long(prompts.distractor_id),
        group=as_long(group),
        n_groups=int(group.max()) + 1,
    )

"""The one logit-difference readout: logit(correct) - logit(distractor) at each prompt's last token.

Two ways to the same number, one function each, used by every scan:

- `ld_from_residual`: the final norm on the last position of the residual entering it, then a dot
  product with W_U[:, correct] - W_U[:, distractor] (plus the bias difference): no vocabulary-sized
  logits (`head_logit_diff` when the last positions are already picked);
- `ld_from_logits`: the two entries read off full logits, as a plain forward gives them.

`check_output_head` holds the first to the second; `final_residual` runs a forward up to the final
norm; `logit_diff` is the readout of a whole PromptSet (with hooks, either way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import torch
from transformer_lens.model_bridge.exceptions import StopAtLayerException

from harness.scoring.geometry import param
from harness.scoring.prompts import as_prompts

Hook = tuple[str, Callable[..., Any]]

# The clean LD computed from the final-position residual must match the full logits this closely (in
# float32; more in half precision); a larger gap means the model's output head is not "final norm,
# then a linear unembedding".
HEAD_CHECK_ATOL = 1e-3


def _stop(tensor: torch.Tensor, hook: Any) -> NoReturn:
    """A hook that ends the forward and makes it return `tensor` (the bridge catches this)."""
    raise StopAtLayerException(tensor)


def final_residual(bridge: Any, tokens: torch.Tensor, fwd_hooks: Sequence[Hook] = ()) -> torch.Tensor:
    """The residual stream entering the final norm, (n, T, d_model), without computing logits."""
    hooks = [*fwd_hooks, ("ln_final.hook_in", _stop)]
    return bridge.run_with_hooks(tokens, fwd_hooks=hooks, use_cache=False)


def head_logit_diff(
    bridge: Any, resid_last: torch.Tensor, correct: torch.Tensor, distractor: torch.Tensor
) -> torch.Tensor:
    """logit(correct) - logit(distractor) from last-position residuals (n, d_model): the final norm,
    then a dot product with the difference of the two unembedding rows (plus their bias)."""
    normed = bridge.ln_final(resid_last[:, None, :])[:, 0, :]
    lm_head = bridge.unembed.original_component
    direction = lm_head.weight[correct] - lm_head.weight[distractor]
    diff = (normed * direction).sum(-1)
    bias = getattr(lm_head, "bias", None)
    if bias is not None:
        diff = diff + bias[correct] - bias[distractor]
    return diff


def _at_last(tensor: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Row i of `tensor` (n, T, ...) at position last[i]: (n, ...)."""
    return tensor[torch.arange(last.shape[0], device=last.device), last]


def ld_from_residual(
    bridge: Any, resid: torch.Tensor, last: torch.Tensor, correct: torch.Tensor, distractor: torch.Tensor
) -> torch.Tensor:
    """Per-row logit differences (n,) from final residuals (n, T, d_model) at positions `last`."""
    return head_logit_diff(bridge, _at_last(resid, last), correct, distractor)


def ld_from_logits(
    logits: torch.Tensor, last: torch.Tensor, correct: torch.Tensor, distractor: torch.Tensor
) -> torch.Tensor:
    """Per-row logit differences (n,) read off full logits (n, T, vocab) at positions `last`."""
    at_last = _at_last(logits, last)
    return at_last.gather(1, correct[:, None])[:, 0] - at_last.gather(1, distractor[:, None])[:, 0]


def check_output_head(clean: torch.Tensor, logits: torch.Tensor, last: torch.Tensor, correct: torch.Tensor,
                      distractor: torch.Tensor) -> None:
    """Raise unless the two-row logit differences `clean` match the full logits (n, T, vocab) at the
    last positions: they differ when the model does more than "final norm, then linear unembedding"
    (a logit soft-cap or scale, say). The tolerance allows for rounding in the model's dtype."""
    reference = ld_from_logits(logits, last, correct, distractor)
    scale = float(_at_last(logits, last).abs().max())
    tolerance = max(HEAD_CHECK_ATOL, 4 * torch.finfo(logits.dtype).eps * scale)
    gap = float((clean - reference).abs().max())
    if gap > tolerance:
        raise RuntimeError(
            f"the last-position logit difference differs from the full logits by {gap:.3g} "
            f"(tolerance {tolerance:.3g}): this model's output head is not 'final norm, then linear "
            "unembedding'; use algorithm='naive'"
        )


def logit_diff(bridge: Any, prompts: Any, *, fwd_hooks: Sequence[Hook] = (), full_logits: bool = False) -> torch.Tensor:
    """Per-prompt logit(correct) - logit(distractor) at each prompt's last token, (N,).

    `prompts` is a PromptSet (or `Prompts`). By default only the two unembedding rows are used (the
    final norm on the last position, then a dot product); `full_logits=True` computes the
    full-vocabulary logits and reads the two entries off them, as a plain forward would.
    """
    p = as_prompts(prompts, param(bridge).device)
    if full_logits:
        logits = bridge.run_with_hooks(p.tokens, fwd_hooks=list(fwd_hooks), use_cache=False)
        return ld_from_logits(logits, p.last_pos, p.correct, p.distractor)
    resid = final_residual(bridge, p.tokens, fwd_hooks)
    return ld_from_residual(bridge, resid, p.last_pos, p.correct, p.distractor)

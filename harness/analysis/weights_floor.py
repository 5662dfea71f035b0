"""The weights-noise floor: how many heads a model "loses" to ITSELF when only the rounding of its
weights changes, and the test of a pair's loss against both floors (prompts and weights).

The zoo's weights are quantised GGUF files, each quantised its own way, so a pair of models also
differs by quantisation noise. A perturbed twin (harness.models.requant: the dequantised weights
re-quantised with the registry's scheme, registry.ZOO_WEIGHTS_TWIN) is scanned on the very same
prompts with the same method; the seed's metrics of the self-transfer model -> twin (frac_lost,
mean_frac_rank, top-K overlap, plus the Spearman correlation of every head's delta) are the floor,
with a bootstrap over prompts (one resample applied to both tables: they saw the same prompts).

The floor is stored beside the split-half (prompt) floors of harness.analysis.noise_floor in the
source's `floors` dict, under `weights_key(model)`, as a `Floor` of kind "weights". `weigh` is F1's
rule over both kinds: a pair's loss counts only above the upper quantile of every floor of both models.

Pure numpy/pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from harness.analysis import transfer
from harness.analysis.noise_floor import Floor, array_self_transfer, arrays_apply, prompt_deltas, head_rows, top_k_overlap

WEIGHTS_METRICS = ("mean_frac_rank", "frac_lost", "top_k_overlap", "spearman")
KIND = "weights"
_SUFFIX = "@weights"


def weights_key(model: str) -> str:
    """The key of `model`'s weights floor in a source's floors dict (prompt floors are keyed by model)."""
    return model + _SUFFIX


def self_transfer_to_twin(
    model: str, family: str, original: tuple[np.ndarray, np.ndarray], twin: tuple[np.ndarray, np.ndarray],
    rows: np.ndarray, *, k: int, tau: float, rule: str, **settings: Any,
) -> dict[str, float]:
    """model -> its twin on prompts `rows`: the pair metrics (the base relabelled so both share one
    frame; the target keeps the registry name, whose geometry is used) and the heads' Spearman."""
    base = head_rows(f"{model}@original", family, *original, rows, tau, rule)
    target = head_rows(model, family, *twin, rows, tau, rule)
    heads = transfer.transfer_heads(pd.concat([base, target], ignore_index=True), f"{model}@original", model, k=k, **settings)
    summary = transfer.summarize_heads(heads)
    rho = spearmanr(base["delta_ioi"].to_numpy(), target["delta_ioi"].to_numpy()).statistic
    return {
        "mean_frac_rank": float(summary["mean_frac_rank"]),
        "frac_lost": float(summary["frac_lost"]),
        "top_k_overlap": top_k_overlap(base, target, k),
        "spearman": float(rho),
    }


def weights_floor(
    model: str, family: str, original: tuple[np.ndarray, np.ndarray], twin: tuple[np.ndarray, np.ndarray], *,
    k: int, tau: float, rule: str, n_boot: int, level: float, seed: int, **settings: Any,
) -> Floor:
    """The weights floor of `model` from per-prompt logit differences (ablated (L, H, N), clean (N,))
    of the original and of its twin on the same N prompts, with a bootstrap over prompts. Each draw is
    one numpy ranking (noise_floor.array_self_transfer) where it applies; `self_transfer_to_twin` (the
    frame path) is the reference it is tested against and the fallback."""
    n = original[1].shape[0]
    if twin[1].shape[0] != n or twin[0].shape != original[0].shape:
        raise ValueError(f"{model}: the twin's scores {twin[0].shape} are not on the original's prompts {original[0].shape}")
    everything = np.arange(n)
    fast = arrays_apply(model, original[0], settings.get("missing", "table"))

    def metrics(rows: np.ndarray) -> dict[str, float]:
        if not fast:
            return self_transfer_to_twin(model, family, original, twin, rows, k=k, tau=tau, rule=rule, **settings)
        base, target = prompt_deltas(*original, rows), prompt_deltas(*twin, rows)
        values = array_self_transfer(base, target, k=k, ties=settings["ties"], weak_above=settings["weak_above"], tau=tau, rule=rule)
        return {**values, "spearman": float(spearmanr(base, target).statistic)}

    point = metrics(everything)
    rng = np.random.default_rng(seed)
    draws = [metrics(rng.choice(everything, n)) for _ in range(n_boot)]
    alpha = (1.0 - level) / 2.0
    lo = {m: float(np.nanquantile([d[m] for d in draws], alpha)) for m in WEIGHTS_METRICS}
    hi = {m: float(np.nanquantile([d[m] for d in draws], 1.0 - alpha)) for m in WEIGHTS_METRICS}
    return Floor(model, int(n), point, lo, hi, n_boot, level, kind=KIND)


@dataclass(frozen=True)
class Weighing:
    """A pair's frac_lost against every floor of its two models."""

    lost: float
    prompt_floors: dict[str, float]  # model -> upper quantile of its split-half frac_lost
    weights_floors: dict[str, float]  # model -> upper quantile of its model -> twin frac_lost (absent: not scanned)
    missing_weights: tuple[str, ...]

    @property
    def beyond_prompts(self) -> bool:
        return all(self.lost > hi for hi in self.prompt_floors.values())

    @property
    def beyond_weights(self) -> bool:
        """Above every weights floor there is (True when none was scanned: see missing_weights)."""
        return all(self.lost > hi for hi in self.weights_floors.values())

    @property
    def holds(self) -> bool:
        return self.beyond_prompts and self.beyond_weights

    def describe(self, level: str) -> str:
        prompts = ", ".join(f"{m} {v:.2f}" for m, v in self.prompt_floors.items())
        text = f"frac_lost = {self.lost:.2f}; split-half floors (upper {level}): {prompts}"
        if self.weights_floors:
            text += "; weights floors (re-quantised twin, upper " + level + "): " + ", ".join(
                f"{m} {v:.2f}" for m, v in self.weights_floors.items()
            )
        if self.missing_weights:
            text += f"; no weights floor for {', '.join(self.missing_weights)} (twin not scanned)"
        within = [m for m, v in self.weights_floors.items() if self.lost <= v]
        if within:
            text += f"; the loss is WITHIN the weights floor of {', '.join(within)}: quantisation alone could produce it"
        return text


def weigh(lost: float, pair: tuple[str, str], floors: Mapping[str, Floor]) -> Weighing:
    """F1's rule: `lost` against the prompt floors (keyed by model) and weights floors
    (keyed by `weights_key(model)`) of both models of `pair`; every prompt floor must be present."""
    prompt = {m: floors[m].hi["frac_lost"] for m in pair}
    weights = {m: floors[weights_key(m)].hi["frac_lost"] for m in pair if weights_key(m) in floors}
    return Weighing(float(lost), prompt, weights, tuple(m for m in pair if m not in weights))

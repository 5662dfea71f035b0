"""The zoo in the report: its pairs beside the published ones, each pair's loss beside its models'
noise floors, and a picture of both.

`pairs_frame` gives, per zoo pair, mean_frac_rank and frac_lost with bootstrap intervals over prompts
(the four models saw the same prompts, so one resample serves both), the missing fractions, both
models' split-half floors of frac_lost (upper quantile), their weights floors (model -> re-quantised
twin, where scanned), and whether the loss is beyond all of them (F1).
`floors_frame` lists each model's floor. `plot_zoo` draws published and zoo pairs side by side with
the floors as bands. Everything here reads stored scores; nothing runs a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import transfer
from harness.analysis.noise_floor import pair_interval
from harness.analysis.weights_floor import weigh
from harness.claims.checks import Evaluation
from harness.claims.thresholds import Thresholds
from harness.report.format import markdown_table, save_figure
from harness.data.head_table import DEFAULT_TAU
from harness.models import registry
from harness.runs.zoo import zoo_arrays

PAIR_COLUMNS = [
    "base_model", "tgt_model", "kind", "n_prompts", "mean_frac_rank", "mfr_lo", "mfr_hi", "frac_missing_geometry",
    "frac_lost", "lost_lo", "lost_hi", "base_floor_hi", "tgt_floor_hi", "base_wfloor_hi", "tgt_wfloor_hi", "beyond_floors",
]


def pairs_frame(evaluation: Evaluation, floors: dict[str, Any], method: str, settings: Thresholds) -> pd.DataFrame:
    """One row per zoo pair the evaluation covers (see the module docstring)."""
    rows = []
    for (base, target), heads in evaluation.heads.items():
        summary = transfer.summarize_heads(heads)
        row = {
            "base_model": base, "tgt_model": target, "kind": registry.pair_kind(base, target),
            "mean_frac_rank": summary["mean_frac_rank"], "frac_missing_geometry": summary["frac_missing_geometry"],
            "frac_lost": summary["frac_lost"],
        }
        arrays = {m: zoo_arrays(registry.get(m), method) for m in (base, target)}
        if all(a is not None for a in arrays.values()) and arrays[base][1].shape == arrays[target][1].shape:
            iv = pair_interval(
                (base, registry.get(base).family, *arrays[base]), (target, registry.get(target).family, *arrays[target]),
                **settings.transfer.kwargs(), tau=DEFAULT_TAU, rule="signed", n_boot=settings.noise_floor.n_boot,
                level=settings.uncertainty.level, seed=settings.uncertainty.seed,
            )
            row.update(n_prompts=int(arrays[base][1].shape[0]), mfr_lo=iv["mean_frac_rank"][1], mfr_hi=iv["mean_frac_rank"][2],
                       lost_lo=iv["frac_lost"][1], lost_hi=iv["frac_lost"][2])
        if base in floors and target in floors:
            weighing = weigh(summary["frac_lost"], (base, target), floors)
            row.update(base_floor_hi=floors[base].hi["frac_lost"], tgt_floor_hi=floors[target].hi["frac_lost"],
                       base_wfloor_hi=weighing.weights_floors.get(base, np.nan), tgt_wfloor_hi=weighing.weights_floors.get(target, np.nan),
                       beyond_floors=weighing.holds)
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=PAIR_COLUMNS)


def floors_frame(floors: dict[str, Any]) -> pd.DataFrame:
    """Each model's split-half floor, one row per model and metric."""
    if not floors:
        return pd.DataFrame(columns=["model", "metric", "floor", "lo", "hi", "n_prompts", "n_boot"])
    return pd.concat([f.frame() for f in floors.values()], ignore_index=True)


def plot_zoo(published: Evaluation | None, zoo: pd.DataFrame, floors: dict[str, Any], path: Path, title: str) -> Path:
    """Published pairs (grey) and zoo pairs (blue within, orange cross) side by side: mean_frac_rank
    with intervals, and frac_lost with each zoo pair's noise floor (the higher of its two models'
    upper quantiles) as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pub = published.summary if published is not None else pd.DataFrame(columns=zoo.columns)
    labels = [f"{b}\n-> {t}" for b, t in zip(pub["base_model"], pub["tgt_model"])] + [
        f"{b}\n-> {t}" for b, t in zip(zoo["base_model"], zoo["tgt_model"])
    ]
    n_pub = len(pub)
    x = np.arange(len(labels))
    colors = ["0.6"] * n_pub + ["tab:blue" if k == "within" else "tab:orange" for k in zoo["kind"]]
    mfr = np.concatenate([pub["mean_frac_rank"].to_numpy(float), zoo["mean_frac_rank"].to_numpy(float)])
    lost = np.concatenate([pub["frac_lost"].to_numpy(float), zoo["frac_lost"].to_numpy(float)])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 5))
    zx = x[n_pub:]
    ax1.bar(x, mfr, color=colors)
    if zoo["mfr_lo"].notna().any():
        ax1.errorbar(zx, zoo["mean_frac_rank"], yerr=[zoo["mean_frac_rank"] - zoo["mfr_lo"], zoo["mfr_hi"] - zoo["mean_frac_rank"]],
                     fmt="none", ecolor="black", capsize=4)
    ax1.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("mean_frac_rank (0 = strongest)")
    ax1.set_title("Rank of the base's top IOI heads in the target (zoo: 95% bootstrap over prompts)")
    ax2.bar(x, lost, color=colors)
    if zoo["lost_lo"].notna().any():
        ax2.errorbar(zx, zoo["frac_lost"], yerr=[zoo["frac_lost"] - zoo["lost_lo"], zoo["lost_hi"] - zoo["frac_lost"]],
                     fmt="none", ecolor="black", capsize=4)
    for xi, row in zip(zx, zoo.itertuples(index=False)):
        if pd.notna(row.base_floor_hi):
            band = max(row.base_floor_hi, row.tgt_floor_hi)
            ax2.fill_between([xi - 0.45, xi + 0.45], 0, band, color="tab:green", alpha=0.45, lw=0, zorder=3)
            ax2.hlines(band, xi - 0.45, xi + 0.45, color="darkgreen", lw=2, zorder=4)
        weights = [v for v in (row.base_wfloor_hi, row.tgt_wfloor_hi) if pd.notna(v)]
        if weights:
            ax2.hlines(max(weights), xi - 0.45, xi + 0.45, color="purple", lw=2, ls="--", zorder=5)
    ax2.fill_between([], [], [], color="tab:green", alpha=0.45, label="noise floor: split-half loss, upper 95% (higher of the two models)")
    ax2.hlines([], [], [], color="purple", lw=2, ls="--", label="weights floor: loss to the re-quantised twin, upper 95% (higher)")
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("frac_lost (missing or in the target's weaker half)")
    ax2.set_title("Lost heads; published tables have no per-prompt scores, hence no floor")
    ax2.legend(fontsize=8, loc="upper left")
    for ax in (ax1, ax2):
        ax.set_xticks(x, labels, fontsize=6, rotation=30, ha="right")
        if n_pub:
            ax.axvline(n_pub - 0.5, color="black", lw=0.6)
    fig.suptitle(title, fontsize=10)

    return save_figure(fig, path)


def zoo_markdown(pairs: pd.DataFrame, floors: pd.DataFrame, source: str) -> list[str]:
    """Report lines: the zoo pairs against their floors, and the floors."""

    lines = [f"## Zoo pairs and noise floors, source `{source}`", ""]
    lines += [
        "Each model has two noise floors: its split-half self-transfer (half A of its prompts -> half B) and, where "
        "its re-quantised twin was scanned, its weights floor (the model -> its twin, same prompts); a pair's loss "
        "counts (F1) only above both models' upper quantiles of each. The published source has no per-prompt scores, "
        "so the seed's losses cannot be weighed against a floor.",
        "",
        markdown_table(pairs.round(3)),
        "",
        markdown_table(floors.round(3)),
        "",
    ]
    return lines

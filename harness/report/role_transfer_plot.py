"""The zoo's pairs under every correspondence: frac_lost with its interval, beside the random null,
the oracle and the split-half floors (harness.analysis.role_transfer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.correspondence import MATCHINGS


def plot_role_transfer(rows: pd.DataFrame, results: dict, path: Path, title: str = "") -> Path:
    """One panel per pair: frac_lost per correspondence (point, 95% bootstrap interval), the null's
    draws (violin; median and 5th percentile marked), the oracle (green line) and the floors (grey)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from harness.report.render import save_figure

    pairs = list(dict.fromkeys(zip(rows["base_model"], rows["tgt_model"])))
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.3 * len(pairs), 3.4), squeeze=False, sharey=True)
    for ax, pair in zip(axes[0], pairs):
        group = rows[(rows["base_model"] == pair[0]) & (rows["tgt_model"] == pair[1])].set_index("correspondence")
        names = [n for n in MATCHINGS if n in group.index]
        x = np.arange(len(names))
        est = group.loc[names, "frac_lost"].to_numpy(float)
        lo, hi = group.loc[names, "lost_lo"].to_numpy(float), group.loc[names, "lost_hi"].to_numpy(float)
        ax.errorbar(x, est, yerr=[est - lo, hi - est], fmt="o", color="C0", capsize=3, label="frac_lost (95% CI)")
        null = results[pair].null
        pos = len(names)
        ax.violinplot([null], positions=[pos], showextrema=False)
        ax.plot([pos - 0.25, pos + 0.25], [np.median(null)] * 2, color="C1", label="null median")
        ax.plot([pos - 0.2, pos + 0.2], [np.quantile(null, 0.05)] * 2, color="C1", ls=":", label="null 5th pct")
        ax.axhline(results[pair].oracle["frac_lost"], color="green", lw=1, label="oracle")
        first = group.iloc[0]
        for column, style in (("base_floor_lost_hi", "--"), ("target_floor_lost_hi", "-.")):
            if column in group.columns and pd.notna(first[column]):
                ax.axhline(first[column], color="grey", ls=style, lw=1, label=column.replace("_lost_hi", " floor (upper)"))
        ax.set_xticks(list(x) + [pos], names + ["random"], rotation=30, fontsize=7)
        ax.set_title(f"{pair[0]} ->\n{pair[1]} ({first['kind']})", fontsize=8)
        ax.set_ylim(-0.05, 1.05)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("frac_lost (share of base top-K heads lost)", fontsize=8)
    axes[0][-1].legend(fontsize=6, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, Path(path))

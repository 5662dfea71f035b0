"""The faithfulness curves of the zoo: one panel per model (a row per ablation method), f of the
top-k heads by |delta| and by signed delta against the band of random k-sets (5th-95th percentile,
and their mean), k on a log axis up to all heads. Reads stored results only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis import faithfulness as fa
from harness.report.render import save_figure


def plot_curves(results_by_method: dict[str, pd.DataFrame], path: Path) -> Path:
    """Draw every (method, model) with stored results; returns the PNG's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [m for m, r in results_by_method.items() if len(r)]
    models = list(dict.fromkeys(m for r in results_by_method.values() if len(r) for m in r["model"]))
    if not methods or not models:
        raise LookupError("no faithfulness results to plot")
    fig, axes = plt.subplots(len(methods), len(models), figsize=(3.2 * len(models), 2.8 * len(methods)), squeeze=False, sharey="row")
    for i, method in enumerate(methods):
        results = fa.with_f(results_by_method[method])
        for j, model in enumerate(models):
            ax = axes[i][j]
            rows = results[results["model"] == model]
            if not len(rows):
                ax.set_axis_off()
                continue
            n = int(rows.loc[rows["kind"] == "full", "k"].iloc[0])
            random = rows[rows["kind"] == "random"].groupby("k")["f"]
            ks = np.array(sorted(random.groups))
            lo, hi = random.quantile(0.05).reindex(ks), random.quantile(0.95).reindex(ks)
            ax.fill_between(ks, lo, hi, color="0.8", label="random k-sets 5-95%")
            ax.plot(ks, random.mean().reindex(ks), color="0.5", lw=1, ls="--", label="random mean")
            for ranking, color in (("abs", "C0"), ("signed", "C3")):
                top = rows[(rows["kind"] == "top") & (rows["ranking"] == ranking)].sort_values("k")
                xs = np.append(top["k"].to_numpy(), n)
                ys = np.append(top["f"].to_numpy(), 1.0)
                ax.plot(xs, ys, marker="o", ms=3, color=color, label=f"top-k by {'|delta|' if ranking == 'abs' else 'signed delta'}")
            ax.set_xscale("log")
            ax.axhline(0, color="k", lw=0.5)
            ax.axhline(1, color="k", lw=0.5, ls=":")
            ax.set_title(f"{model} ({method})", fontsize=9)
            ax.set_xlabel("k (heads kept)", fontsize=8)
            if j == 0:
                ax.set_ylabel("f = faithfulness", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=6, loc="upper left")
    return save_figure(fig, path)

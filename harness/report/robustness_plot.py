"""The robustness heatmap: checks x choice values, colour = share of the grid where the check holds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.report.format import save_figure


def plot_heatmap(shares: pd.DataFrame, path: Path, title: str) -> Path:
    """PNG of `shares` (rows = checks, columns = 'all' then 'choice=value', values in [0, 1], as
    harness.claims.robustness.marginal_shares gives them), each cell annotated with its share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows, n_cols = shares.shape
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * n_cols, 1.2 + 0.27 * n_rows))
    image = ax.imshow(shares.to_numpy(float), cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(n_cols), shares.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n_rows), shares.index, fontsize=7)
    for i in range(n_rows):
        for j in range(n_cols):
            value = shares.iat[i, j]
            if value == value:  # NaN: the check has no universe with this value
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=5.5)
    ax.axvline(0.5, color="black", lw=1.2)  # 'all' | per-value columns
    fig.colorbar(image, ax=ax, fraction=0.025, pad=0.01, label="share of universes where the check holds")
    ax.set_title(title, fontsize=9)

    return save_figure(fig, path, dpi=110)

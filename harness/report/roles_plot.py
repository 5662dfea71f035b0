"""Heatmaps of a model's role table: layers x heads, one panel per score (harness.scoring.roles)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.scoring.role_columns import DLA_COLUMN, ROLE_COLUMNS


def plot_roles(table: pd.DataFrame, path: Path, title: str | None = None) -> Path:
    """Draw one panel per role score (rows = layers, columns = heads) into `path` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from harness.report.render import save_figure

    n_layers, n_heads = int(table["layer"].max()) + 1, int(table["head"].max()) + 1
    columns = [c for c in ROLE_COLUMNS if c in table.columns]
    fig, axes = plt.subplots(1, len(columns), figsize=(1.0 + len(columns) * max(1.6, 0.16 * n_heads), 0.6 + 0.16 * n_layers), squeeze=False)
    for ax, column in zip(axes[0], columns):
        grid = np.full((n_layers, n_heads), np.nan)
        grid[table["layer"].to_numpy(int), table["head"].to_numpy(int)] = table[column].to_numpy(float)
        if column == DLA_COLUMN:
            bound = float(np.nanmax(np.abs(grid))) or 1.0
            image = ax.imshow(grid, aspect="auto", cmap="RdBu", vmin=-bound, vmax=bound, interpolation="nearest")
        else:
            image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0.0, vmax=max(1e-9, float(np.nanmax(grid))), interpolation="nearest")
        ax.set_title(column, fontsize=8)
        ax.set_xlabel("head", fontsize=7)
        ax.tick_params(labelsize=6)
        fig.colorbar(image, ax=ax, fraction=0.08, pad=0.02).ax.tick_params(labelsize=6)
    axes[0][0].set_ylabel("layer", fontsize=7)
    model = table["model"].iloc[0] if "model" in table.columns else ""
    fig.suptitle(title or f"Role scores of {model} (layers x heads)", fontsize=9)
    return save_figure(fig, Path(path))

"""Known-answer controls scored against their truth (docs/controls.md, issue 28): pure functions over a
combined head table (base and control), role tables and a control's true map (harness.models.transforms:
layer, head -> tgt_layer, tgt_head, NA = gone).

- `true_correspondence`: the true map restricted to the base's top K, in their order: a correspondence
  like index / depth / role+depth, so it is scored by the same code (role_transfer.mapped_heads);
- `mapping_accuracy`: the share of base heads a correspondence maps to their true image;
- `control_rows`: per correspondence (index, depth, role+depth where both role tables exist, and the true
  map): frac_lost, mean_frac_rank, mapping accuracy; the inputs of K1-K4 and K7;
- `delta_agreement`: the control's single-head deltas read through the true map against the base's
  (Spearman, max abs difference) and the largest abs delta of control heads no base head maps to (inert
  blocks) or of heads that are gone (knocked out): K5-K7.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from harness.analysis import correspondence as corr
from harness.analysis import role_transfer, transfer
from harness.data.head_table import model_table, with_categories

TRUE = "true"
CONTROL_COLUMNS = ["base_model", "control", "correspondence", "k", "frac_lost", "mean_frac_rank", "accuracy"]


def true_correspondence(base_top: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The true image of each head of `base_top` (layer, head), in its order (NA where the head is gone)."""
    heads = base_top[["layer", "head"]].astype(int).reset_index(drop=True)
    merged = heads.merge(truth, on=["layer", "head"], how="left", validate="one_to_one")
    if len(merged) != len(heads) or merged["tgt_layer"].isna().sum() > truth["tgt_layer"].isna().sum():
        raise ValueError("the true map lacks a row for a base head")
    return merged[list(corr.OUTPUT_COLUMNS)].astype({"tgt_layer": "Int64", "tgt_head": "Int64"})


def mapping_accuracy(mapping: pd.DataFrame, truth: pd.DataFrame) -> float:
    """Share of the mapping's base heads sent to their true image, over the heads that have one (NaN if none)."""
    true = true_correspondence(mapping, truth)
    has_image = true["tgt_layer"].notna().to_numpy()
    if not has_image.any():
        return float("nan")
    same = (mapping["tgt_layer"].to_numpy(dtype=float, na_value=np.nan) == true["tgt_layer"].to_numpy(dtype=float, na_value=np.nan)) & (
        mapping["tgt_head"].to_numpy(dtype=float, na_value=np.nan) == true["tgt_head"].to_numpy(dtype=float, na_value=np.nan))
    return float(same[has_image].mean())


def control_rows(
    table: pd.DataFrame, roles: dict[str, pd.DataFrame], base: str, control: str, truth: pd.DataFrame, cfg: Any,
    names: tuple[str, ...] = ("index", "depth", "role+depth"),
) -> pd.DataFrame:
    """One row per correspondence of `names` (those needing roles only where both role tables exist) and
    the true map: frac_lost and mean_frac_rank of the base's top K in the control, and mapping accuracy."""
    t = cfg.transfer
    base_rows = transfer.top_k_base(with_categories(table, t.categories), base, t.k)
    ranks = transfer.target_ranks(table, control, t.ties, over=t.missing)
    gb, gt = role_transfer.geometry(base), role_transfer.geometry(control)
    mappings = {}
    for name in names:
        if name in corr.NEEDS_ROLES and (base not in roles or control not in roles):
            continue
        mappings[name] = corr.correspond(name, base_rows, roles.get(base), roles.get(control), gb, gt, cfg,
                                         seed=cfg.uncertainty.seed)
    mappings[TRUE] = true_correspondence(base_rows, truth)
    rows = []
    for name, mapping in mappings.items():
        heads = role_transfer.mapped_heads(table, base, control, mapping, cfg, base_rows=base_rows, ranks=ranks)
        rows.append({"base_model": base, "control": control, "correspondence": name, "k": len(heads),
                     "frac_lost": float(heads["lost"].mean()), "mean_frac_rank": float(heads["tgt_frac_rank"].mean()),
                     "accuracy": mapping_accuracy(mapping, truth)})
    return pd.DataFrame(rows, columns=CONTROL_COLUMNS)


def delta_agreement(table: pd.DataFrame, base: str, control: str, truth: pd.DataFrame) -> dict[str, float]:
    """The control's delta_ioi at each base head's true image against the base's delta_ioi: Spearman,
    max abs difference, heads compared; and the largest abs delta_ioi of control heads that are no
    base head's image (inert) and of control heads at the index of a head that is gone (knocked out)."""
    base_deltas = model_table(table, base).set_index(["layer", "head"])["delta_ioi"].astype(float)
    control_deltas = model_table(table, control).set_index(["layer", "head"])["delta_ioi"].astype(float)
    kept = truth.dropna()
    images = list(zip(kept["tgt_layer"].astype(int), kept["tgt_head"].astype(int)))
    a = base_deltas.loc[list(zip(kept["layer"].astype(int), kept["head"].astype(int)))].to_numpy()
    b = control_deltas.loc[images].to_numpy()
    gone = truth[truth["tgt_layer"].isna()]
    inert = control_deltas.drop(index=images)
    gone_at = [(int(layer), int(head)) for layer, head in zip(gone["layer"], gone["head"])]
    return {
        "spearman": float(spearmanr(a, b).statistic) if len(a) > 2 else float("nan"),
        "max_abs_diff": float(np.max(np.abs(a - b))) if len(a) else float("nan"),
        "n": float(len(a)),
        "inert_max_abs": float(np.max(inert.drop(index=gone_at, errors="ignore").abs().to_numpy(), initial=0.0)),
        "gone_max_abs": float(control_deltas.loc[gone_at].abs().max()) if gone_at else float("nan"),
    }


def pair_summary(
    table: pd.DataFrame, roles: dict[str, pd.DataFrame], base: str, control: str, truth: pd.DataFrame, cfg: Any,
    memo: dict | None = None,
) -> dict[str, float]:
    """Everything K1-K8 read of one (base, control) pair, flat: `{correspondence}_lost`, `_mfr`, `_acc` per
    control_rows row, the delta agreement, role+depth's p against the random depth-preserving null (when
    both role tables exist) and the control's clean IOI accuracy and logit difference."""
    out: dict[str, float] = {}
    for row in control_rows(table, roles, base, control, truth, cfg).itertuples():
        out.update({f"{row.correspondence}_lost": row.frac_lost, f"{row.correspondence}_mfr": row.mean_frac_rank,
                    f"{row.correspondence}_acc": row.accuracy})
    out.update(delta_agreement(table, base, control, truth))
    if base in roles and control in roles:
        # `memo` (a robustness sweep's) keeps the null's draws across universes: a matching that beats every
        # draw costs the sequential null its 9999 draws once, not once per universe
        out["role+depth_p"] = float(role_transfer.pair_losses(table, roles, base, control, cfg, memo)["p_vs_null"])
    for model, side in ((base, "base"), (control, "control")):
        rows = model_table(table, model)
        for column, name in (("clean_accuracy_ioi", "accuracy"), ("clean_logit_diff_ioi", "logit_diff")):
            if column in rows:
                out[f"{side}_{name}"] = float(rows[column].iloc[0])
    return out


def expectations(summaries: dict[str, dict[str, float]], kinds: dict[str, str], floor: float) -> pd.DataFrame:
    """docs/controls.md's expectations K1-K8 over `summaries` (control -> pair_summary) of one base, with
    `kinds` control -> permute | insert | knockout | prompts and `floor` the prompt twin's index frac_lost.
    One row per (K, control): measured, condition, holds (NaN where an input is absent)."""
    rows = []

    def add(k: str, control: str, measured: str, condition: str, holds: Any) -> None:
        rows.append({"k": k, "control": control, "measured": measured, "condition": condition, "holds": holds})

    for control, s in summaries.items():
        kind = kinds[control]
        get = s.get
        if kind in ("permute", "insert"):
            add("K1", control, f"index frac_lost {get('index_lost', np.nan):.2f}", f">= 0.30 and >= floor {floor:.2f} + 0.20",
                get("index_lost", np.nan) >= max(0.30, floor + 0.20))
            if "role+depth_lost" in s:
                add("K2", control, f"role+depth frac_lost {s['role+depth_lost']:.2f}, accuracy {s['role+depth_acc']:.2f}",
                    f"<= floor {floor:.2f} + 0.05", s["role+depth_lost"] <= floor + 0.05 + 1e-9)
            depth_ok = get("depth_lost", np.nan) <= floor + 0.10 + 1e-9 if kind == "insert" else get("depth_lost", np.nan) >= floor + 0.20
            add("K3", control, f"depth frac_lost {get('depth_lost', np.nan):.2f}",
                "<= floor + 0.10 (recovers)" if kind == "insert" else ">= floor + 0.20 (does not recover)", depth_ok)
            add("K5" if kind == "permute" else "K6", control,
                f"Spearman {s['spearman']:.4f}, max |diff| {s['max_abs_diff']:.2e}, inert max |delta| {s['inert_max_abs']:.1e}",
                ">= 0.99, <= 1e-3, inert <= 1e-6", s["spearman"] >= 0.99 and s["max_abs_diff"] <= 1e-3 and s["inert_max_abs"] <= 1e-6)
        if kind == "permute" and "role+depth_p" in s:
            add("K4", control, f"role+depth p vs null {s['role+depth_p']:.3f}", "< 0.05", s["role+depth_p"] < 0.05)
        if kind == "knockout":
            # the true map sends a knocked-out head nowhere, so its frac_lost is 1 by construction: what is measured
            # is the head at its own index, whose O columns are zero
            add("K7", control, f"index frac_lost {get('index_lost', np.nan):.2f}, knocked max |delta| {get('gone_max_abs', np.nan):.1e}; "
                f"accuracy {get('base_accuracy', np.nan):.3f} -> {get('control_accuracy', np.nan):.3f}, "
                f"logit diff {get('base_logit_diff', np.nan):.2f} -> {get('control_logit_diff', np.nan):.2f}",
                ">= 0.90 and <= 1e-6", get("index_lost", np.nan) >= 0.90 and get("gone_max_abs", np.nan) <= 1e-6)
        if kind == "prompts":
            add("K8", control, f"index frac_lost {get('index_lost', np.nan):.2f}" + (
                f", role+depth {s['role+depth_lost']:.2f} (accuracy {s['role+depth_acc']:.2f})" if "role+depth_lost" in s else ""),
                "<= 0.15", get("index_lost", np.nan) <= 0.15 + 1e-9)
    return pd.DataFrame(rows, columns=["k", "control", "measured", "condition", "holds"])


def faithfulness_expectation(transfer: pd.DataFrame, base: str, control: str) -> dict[str, Any] | None:
    """K9 of one permuted control from its causal-transfer rows (harness.analysis.causal_transfer.
    transfer_frame: one row per correspondence of the base's top K mapped into the control): the true
    map's efficiency within [0.95, 1.05] and role+depth's >= 0.90 (docs/controls.md); the index-mapped
    set's efficiency reported beside them. None without the true map's row."""
    rows = transfer[(transfer["base"] == base) & (transfer["target"] == control)].set_index("correspondence")
    if TRUE not in rows.index:
        return None
    eff = {name: float(rows.loc[name, "efficiency"]) for name in ("true", "role+depth", "index") if name in rows.index}
    text = ", ".join(f"{name} {value:.3f}" for name, value in eff.items())
    true = rows.loc[TRUE]
    measured = (f"efficiency {text} (f true-mapped {float(true['f_mapped']):.3f}, own top-{int(true['n_mapped'])} "
                f"{float(true['f_own']):.3f}, random mean {float(true['null_mean']):.3f})")
    holds = abs(eff[TRUE] - 1.0) <= 0.05 + 1e-9 and eff.get("role+depth", float("nan")) >= 0.90
    return {"k": "K9", "control": control, "measured": measured, "condition": "true map in [0.95, 1.05], role+depth >= 0.90",
            "holds": bool(holds) if "role+depth" in eff else np.nan}

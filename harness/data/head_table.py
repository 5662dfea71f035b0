"""The head-table schema: one row per (model, layer, head) with IOI and control deltas and a category.

This is the published schema of the origin (`joint_ioi_anti_repeat_heads.csv`); the harness writes
recomputed tables in the same schema so every transfer function takes either. `validate` checks a
table and either raises (strict) or returns findings (audit), always naming the offending rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Literal

import numpy as np
import pandas as pd

from harness.models import registry
from harness.errors import UserError

REQUIRED_COLUMNS: dict[str, str] = {
    "family": "str",
    "model": "str",
    "layer": "int",
    "head": "int",
    "delta_ioi": "float",
    "delta_anti": "float",
    "category": "str",
}
CATEGORIES = ("ioi_only", "anti_only", "shared", "weak")
IOI_LIKE = ("ioi_only", "shared")

CategoryRule = Literal["signed", "absolute"]
DEFAULT_TAU = 0.05  # the origin's tau (PROVENANCE.md)


@dataclass(frozen=True)
class Finding:
    """One problem found in a head table."""

    check: str  # columns | type | nan | non_finite | duplicate | unknown_model | geometry | category | category_rule | copied_values
    severity: Literal["error", "warning"]
    message: str
    model: str | None = None
    rows: tuple[int, ...] = field(default_factory=tuple)  # index labels of the offending rows

    def __str__(self) -> str:
        where = f" [{self.model}]" if self.model else ""
        rows = f" rows {list(self.rows)}" if self.rows else ""
        return f"{self.severity}: {self.check}{where}: {self.message}{rows}"


class HeadTableError(UserError, ValueError):
    """A head table that breaks the schema; the message lists every finding."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        super().__init__("invalid head table:\n  " + "\n  ".join(str(f) for f in findings))


def categorize(
    delta_ioi: pd.Series | np.ndarray,
    delta_anti: pd.Series | np.ndarray,
    tau: float = DEFAULT_TAU,
    rule: CategoryRule = "signed",
) -> np.ndarray:
    """Category of each head from its two deltas.

    `signed` (the origin's code): a head serves a task when ablating it LOWERS the logit difference by
    at least tau (delta <= -tau). `absolute` (the origin's paper draft): when |delta| >= tau.
    """
    di = np.asarray(delta_ioi, dtype=float)
    da = np.asarray(delta_anti, dtype=float)
    if rule == "signed":
        ioi, anti = di <= -tau, da <= -tau
    elif rule == "absolute":
        ioi, anti = np.abs(di) >= tau, np.abs(da) >= tau
    else:
        raise ValueError(f"unknown category rule {rule!r}; use 'signed' or 'absolute'")
    return np.select([ioi & anti, ioi, anti], ["shared", "ioi_only", "anti_only"], default="weak")


LABELLED = "labelled"  # keep the category column as the table has it


def with_categories(table: pd.DataFrame, categories: str | float = LABELLED, rule: CategoryRule = "signed") -> pd.DataFrame:
    """The table with its category column as labelled (LABELLED) or recomputed from the deltas with
    tau = `categories` (a number) and `rule`."""
    if categories == LABELLED:
        return table
    if isinstance(categories, bool) or not isinstance(categories, (int, float)) or categories <= 0:
        raise ValueError(f"categories must be {LABELLED!r} or a positive tau, got {categories!r}")
    return table.assign(category=categorize(table["delta_ioi"], table["delta_anti"], float(categories), rule))


def with_derived_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Add abs_delta_ioi, abs_delta_anti and strength (their sum) when absent."""
    out = table.copy()
    if "abs_delta_ioi" not in out:
        out["abs_delta_ioi"] = out["delta_ioi"].abs()
    if "abs_delta_anti" not in out:
        out["abs_delta_anti"] = out["delta_anti"].abs()
    if "strength" not in out:
        out["strength"] = out["abs_delta_ioi"] + out["abs_delta_anti"]
    return out


def _rows(mask: pd.Series) -> tuple[int, ...]:
    return tuple(int(i) for i in mask[mask].index)


# A delta is a change of a logit difference (a few units; the origin's largest is below 5): one beyond
# MAX_ABS_DELTA is a broken value (e.g. -1e308) that would otherwise top every ranking.
MAX_ABS_DELTA = 1e4
MAX_INDEX = 1 << 20  # a layer or head index beyond this is no index (and would overflow int casts)


def _check_types(table: pd.DataFrame) -> list[Finding]:
    findings = []
    for col, kind in REQUIRED_COLUMNS.items():
        values = table[col]
        if kind == "int":
            numeric = pd.to_numeric(values, errors="coerce")
            with np.errstate(invalid="ignore"):
                bad = numeric.isna() | ~np.isfinite(numeric) | (numeric != np.floor(numeric)) | (numeric.abs() > MAX_INDEX)
            what = "not an integer index"
        elif kind == "float":
            numeric = pd.to_numeric(values, errors="coerce")
            bad = numeric.isna() & values.notna()
            what = "not a number"
        else:
            bad = values.isna() | (values.astype(str).str.strip() == "")
            what = "empty"
        if bad.any():
            findings.append(Finding("type", "error", f"column {col!r}: {what}", rows=_rows(bad)))
    return findings


def _check_values(table: pd.DataFrame) -> list[Finding]:
    findings: list[Finding] = []
    for col in ("delta_ioi", "delta_anti"):
        values = pd.to_numeric(table[col], errors="coerce")
        nan = values.isna()
        if nan.any():
            findings.append(Finding("nan", "error", f"column {col!r} holds NaN", rows=_rows(nan)))
        infinite = ~nan & ~np.isfinite(values.to_numpy(float))
        if infinite.any():
            findings.append(Finding("non_finite", "error", f"column {col!r} holds an infinite value", rows=_rows(pd.Series(infinite, index=table.index))))
        huge = pd.Series(~infinite & (values.abs() > MAX_ABS_DELTA).to_numpy(), index=table.index)
        if huge.any():
            findings.append(Finding("non_finite", "error", f"column {col!r} beyond +-{MAX_ABS_DELTA:g}", rows=_rows(huge)))
    dup = table.duplicated(["model", "layer", "head"], keep=False)
    if dup.any():
        findings.append(Finding("duplicate", "error", "the same (model, layer, head) appears twice", rows=_rows(dup)))
    bad_cat = ~table["category"].isin(CATEGORIES)
    if bad_cat.any():
        findings.append(
            Finding("category", "error", f"category not one of {list(CATEGORIES)}", rows=_rows(bad_cat))
        )
    for model, rows in table.groupby("model", sort=False):
        if model not in registry.MODELS:
            findings.append(
                Finding("unknown_model", "error", "model is not in the registry", model=str(model), rows=tuple(rows.index))
            )
            continue
        spec = registry.get(str(model))
        outside = (rows["layer"] < 0) | (rows["layer"] >= spec.n_layers) | (rows["head"] < 0) | (rows["head"] >= spec.n_heads)
        if outside.any():
            cells = ", ".join(f"L{int(r.layer)}H{int(r.head)}" for r in rows[outside].itertuples())
            findings.append(
                Finding(
                    "geometry",
                    "error",
                    f"(layer, head) outside the model's {spec.n_layers}x{spec.n_heads} heads: {cells}",
                    model=str(model),
                    rows=_rows(outside),
                )
            )
    return findings


def category_rule_findings(table: pd.DataFrame, tau: float = DEFAULT_TAU) -> list[Finding]:
    """Rows whose category disagrees with each rule (signed, absolute), one finding per rule and model."""
    findings = []
    for rule in ("signed", "absolute"):
        expected = categorize(table["delta_ioi"], table["delta_anti"], tau, rule)
        mismatch = pd.Series(expected != table["category"].to_numpy(), index=table.index)
        for model, rows in table[mismatch].groupby("model", sort=False):
            cells = ", ".join(
                f"L{int(r.layer)}H{int(r.head)} ({r.category}, rule says {expected[table.index.get_loc(r.Index)]})"
                for r in rows.itertuples()
            )
            findings.append(
                Finding(
                    "category_rule",
                    "warning",
                    f"{len(rows)} categories disagree with the {rule} tau={tau} rule: {cells}",
                    model=str(model),
                    rows=tuple(int(i) for i in rows.index),
                )
            )
    return findings


# Two models share "copied" values when at least this many of their nonzero deltas at the same (layer,
# head) are equal to the last bit: independent measurements of different weights never agree that way.
COPIED_MIN_MATCHES = 5


def copied_value_findings(table: pd.DataFrame, min_matches: int = COPIED_MIN_MATCHES) -> list[Finding]:
    """Pairs of models whose nonzero delta_ioi or delta_anti are bit-identical at the same (layer,
    head) for at least `min_matches` heads: a column copied from one model to another, not measured."""
    findings = []
    models = list(dict.fromkeys(table["model"]))
    columns = [c for c in ("delta_ioi", "delta_anti") if c in table]
    parts = {model: part.reset_index()[["index", "layer", "head", *columns]] for model, part in table.groupby("model", sort=False)}
    pairs = [(first, second) for i, first in enumerate(models) for second in models[i + 1 :]]
    merged_pairs = {pair: parts[pair[0]].merge(parts[pair[1]], on=["layer", "head"], suffixes=("_a", "_b")) for pair in pairs}
    for column in columns:
        for first, second in pairs:
            merged = merged_pairs[(first, second)]
            same = (merged[f"{column}_a"] == merged[f"{column}_b"]) & (merged[f"{column}_a"] != 0)
            if int(same.sum()) >= min_matches:
                findings.append(
                    Finding(
                        "copied_values",
                        "warning",
                        f"{column} equals {second}'s to the last digit at {int(same.sum())} of the {len(merged)} "
                        f"(layer, head) both list (nonzero values only): copied, not measured on {first}'s weights?",
                        model=str(first),
                        rows=tuple(int(x) for x in merged.loc[same, "index_a"]),
                    )
                )
    return findings


def validate(
    table: pd.DataFrame,
    *,
    mode: Literal["strict", "audit"] = "strict",
    tau: float = DEFAULT_TAU,
) -> list[Finding]:
    """Check a head table against the schema and the registry's geometry.

    strict: raise HeadTableError listing every error finding (warnings are returned).
    audit: return all findings, errors included, and raise only when columns are missing
    (nothing else can be checked then).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise HeadTableError([Finding("columns", "error", f"missing required columns {missing}")])
    findings = _check_types(table)
    if not findings:  # value checks need well-typed columns
        findings += _check_values(table)
        findings += category_rule_findings(table, tau)
        findings += copied_value_findings(table)
    errors = [f for f in findings if f.severity == "error"]
    if mode == "strict" and errors:
        raise HeadTableError(errors)
    return findings


def findings_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    """Findings as a table (one row each), for reports."""
    return pd.DataFrame(
        [
            {"check": f.check, "severity": f.severity, "model": f.model, "n_rows": len(f.rows), "message": f.message}
            for f in findings
        ],
        columns=["check", "severity", "model", "n_rows", "message"],
    )


def normalize(table: pd.DataFrame) -> pd.DataFrame:
    """Cast the schema's columns to their types and add the derived columns; row order is kept."""
    out = table.copy()
    out["layer"] = out["layer"].astype(int)
    out["head"] = out["head"].astype(int)
    out["delta_ioi"] = out["delta_ioi"].astype(float)
    out["delta_anti"] = out["delta_anti"].astype(float)
    return with_derived_columns(out)


def model_table(table: pd.DataFrame, model: str) -> pd.DataFrame:
    """The rows of one model, in table order; KeyError naming the models present if absent."""
    rows = table[table["model"] == model]
    if rows.empty:
        raise KeyError(f"model {model!r} has no rows in this head table; present: {sorted(table['model'].unique())}")
    return rows

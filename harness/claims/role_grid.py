"""One-at-a-time sensitivity of M1-M3 to the role correspondence's choices (claims/role_robustness.toml).

Each choice (w_depth, signature, standardize) takes each of its values with the others at the
thresholds file's defaults; every universe re-evaluates the claims on the same source (tables and role
tables unchanged) and keeps the M1-M3 checks. To join claims/robustness.toml's product grid instead,
harness.claims.robustness.sweep would need to pass the source's extras to `checks.evaluate` and
harness.claims.grid to accept `correspondence.*` settings (configure via harness.schema.replace).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pandas as pd

from harness.paths import REPO_ROOT
from harness.schema import replace

ROLE_GRID_FILE = REPO_ROOT / "claims" / "role_robustness.toml"
ROLE_CLAIMS = ("M1", "M2", "M3")


def load(path: Path = ROLE_GRID_FILE) -> dict[str, list[tuple[str, Any]]]:
    """choice -> [(label, value of the [correspondence] field)], validated against the thresholds' defaults."""
    from harness.claims import thresholds

    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    defaults = thresholds.load().correspondence
    out: dict[str, list[tuple[str, Any]]] = {}
    for name, entry in raw.items():
        if name not in ("w_depth", "signature", "standardize"):
            raise ValueError(f"{path.name}: unknown choice {name!r} (allowed: w_depth, signature, standardize)")
        if not entry.get("rationale"):
            raise ValueError(f"{path.name}: [{name}] needs a rationale")
        if name == "signature":
            values = [(label, tuple(entry[label])) for label in entry["values"]]
        else:
            values = [(str(v), float(v) if name == "w_depth" else v) for v in entry["values"]]
        if getattr(defaults, name) not in [v for _, v in values]:
            raise ValueError(f"{path.name}: [{name}] values must include the default {getattr(defaults, name)!r}")
        out[name] = values
    return out


def sensitivity(source: Any, cfg: Any = None, choices: dict | None = None) -> pd.DataFrame:
    """One row per (choice, value, M-claim check) on a loaded source with role tables: holds, value,
    and whether the value is the default."""
    from harness.claims import checks, thresholds

    cfg = cfg or thresholds.load()
    choices = choices or load()
    rows = []
    for name, values in choices.items():
        for label, value in values:
            changed = replace(cfg, correspondence=replace(cfg.correspondence, **{name: value}))
            ev = checks.evaluate(source.table, source.name, changed, floors=source.floors or None, design=source.design,
                                 extras=source.extras)
            for (claim, variant), check in ev.checks.items():
                if claim in ROLE_CLAIMS:
                    rows.append({"source": source.name, "choice": name, "value": label,
                                 "default": value == getattr(cfg.correspondence, name), "claim": claim,
                                 "variant": variant, "holds": check.holds, "measured": check.value})
    return pd.DataFrame(rows)


def flips(frame: pd.DataFrame) -> pd.DataFrame:
    """The checks whose verdict differs from the default's under some value of a choice."""
    if frame.empty:
        return frame
    keys = ["source", "claim", "variant"]
    default = frame[frame["default"]].drop_duplicates(keys).set_index(keys)["holds"]
    moved = frame[~frame["default"]].copy()
    moved["default_holds"] = [default[tuple(k)] for k in moved[keys].to_numpy()]
    return moved[moved["holds"] != moved["default_holds"]]

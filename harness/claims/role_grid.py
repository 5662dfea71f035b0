"""One-at-a-time sensitivity of M1-M3 to the role correspondence's choices (claims/role_robustness.toml).

Each choice (w_depth, signature, standardize) takes each of its values with the others at the
thresholds file's defaults; every universe re-evaluates the claims on the same source (tables and role
tables unchanged) and keeps the M1-M3 checks. To join claims/robustness.toml's product grid instead,
harness.claims.robustness.sweep would need to pass the source's extras to `checks.evaluate` and
harness.claims.grid to accept `correspondence.*` settings (configure via harness.schema.replace).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from msgspec import Meta

from harness.claims.thresholds import STANDARDIZE, Weight
from harness.paths import REPO_ROOT
from harness.schema import Schema, Text, convert, read_toml, replace, rule
from harness.scoring.role_columns import SIGNATURE_CANDIDATES
from harness.errors import UserError

ROLE_GRID_FILE = REPO_ROOT / "claims" / "role_robustness.toml"
ROLE_CLAIMS = ("M1", "M2", "M3")


class RoleGridError(UserError, ValueError):
    """role_robustness.toml does not match the schema (one line: file, key, what is wrong)."""


class WDepthChoice(Schema):
    values: Annotated[list[Weight], Meta(min_length=1)]
    rationale: Text


class SignatureChoice(Schema):
    """Named column sets (`sets`) and the names the sweep takes (`values`)."""

    sets: dict[str, Annotated[tuple[Literal[SIGNATURE_CANDIDATES], ...], Meta(min_length=1)]]
    values: Annotated[list[str], Meta(min_length=1)]
    rationale: Text

    def __post_init__(self) -> None:
        unknown = [v for v in self.values if v not in self.sets]
        if unknown:
            raise rule(f"values name {unknown[0]!r}, which is none of the sets {', '.join(self.sets)}")


class StandardizeChoice(Schema):
    values: Annotated[list[Literal[STANDARDIZE]], Meta(min_length=1)]
    rationale: Text


class RoleGridFile(Schema):
    """claims/role_robustness.toml as written: one table per [correspondence] choice."""

    w_depth: WDepthChoice
    signature: SignatureChoice
    standardize: StandardizeChoice


def load(path: Path = ROLE_GRID_FILE) -> dict[str, list[tuple[str, Any]]]:
    """choice -> [(label, value of the [correspondence] field)], validated against the thresholds' defaults."""
    from harness.claims import thresholds

    file = convert(read_toml(path, RoleGridError), RoleGridFile, path, RoleGridError)
    defaults = thresholds.load().correspondence
    out: dict[str, list[tuple[str, Any]]] = {
        "w_depth": [(str(v), v) for v in file.w_depth.values],
        "signature": [(name, file.signature.sets[name]) for name in file.signature.values],
        "standardize": [(v, v) for v in file.standardize.values],
    }
    for name, values in out.items():
        if getattr(defaults, name) not in [v for _, v in values]:
            raise RoleGridError(f"{path}: {name}.values must include the default {getattr(defaults, name)!r} ({thresholds.THRESHOLDS_FILE.name})")
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

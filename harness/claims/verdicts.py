"""claims/verdicts.toml: the checks recorded as "not reproduced", with their measured values.

The claim tests mark these xfail(strict=True): CI stays green while the record is true and fails the
day a check flips either way. Regenerate with `python -m harness verdicts` only after reading why a
check flipped; the diff of this file is then the record of what changed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Iterable

from harness.claims.checks import Evaluation
from harness.paths import REPO_ROOT

VERDICTS_FILE = REPO_ROOT / "claims" / "verdicts.toml"  # the one definition (the pytest plugin reads it too)

HEADER = """\
# Checks recorded as NOT REPRODUCED, one table per check id (CLAIM[source-variant]).
# The claim tests mark these xfail(strict=True): a recorded check that starts to hold, or an
# unrecorded one that stops holding, turns CI red. Written by `python -m harness verdicts`;
# thresholds are in thresholds.toml. Never edit a threshold to remove an entry here.
"""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(evaluations: Iterable[Evaluation]) -> str:
    lines = [HEADER]
    for ev in evaluations:
        for check in ev.checks.values():
            if check.holds:
                continue
            lines += [
                f"[{_quote(check.key)}]",
                'verdict = "not reproduced"',
                f"measured = {_quote(check.measured)}",
                f"threshold = {_quote(check.condition)}",
                "",
            ]
    return "\n".join(lines)


def load_verdicts(path: Path = VERDICTS_FILE) -> dict[str, dict]:
    """The recorded checks, by check id (empty when the file does not exist)."""
    if not path.is_file():
        return {}
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def write_verdicts(evaluations: Iterable[Evaluation], path: Path | None = None) -> Path:
    path = path or VERDICTS_FILE
    path.write_text(render(evaluations))
    return path

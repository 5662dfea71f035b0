"""claims/verdicts.toml: the checks recorded as "not reproduced", with their measured values, and
the digest of the settings they were recorded under.

The claim tests mark these xfail(strict=True): CI stays green while the record is true and fails the
day a check flips either way. The file also records `settings_sha256`, a digest of the CONTENT of
claims/thresholds.toml and claims/robustness.toml (their parsed values: comments do not count), so a
changed number is red until the verdicts are re-recorded; an entry for a check that does not exist is
red too (`record_problems`). Regenerate with `python -m harness verdicts` only after reading why a
check flipped; it prints the diff, and keeps the entries of sources that produced no data.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Iterable

from harness.claims.checks import Evaluation
from harness.paths import REPO_ROOT

VERDICTS_FILE = REPO_ROOT / "claims" / "verdicts.toml"  # the one definition (the pytest plugin reads it too)
SETTINGS_KEY = "settings_sha256"
RERECORD = "review the change, then re-record with `python -m harness verdicts` (it prints the diff)"

HEADER = """\
# Checks recorded as NOT REPRODUCED, one table per check id (CLAIM[source-variant]).
# The claim tests mark these xfail(strict=True): a recorded check that starts to hold, or an
# unrecorded one that stops holding, turns CI red. Written by `python -m harness verdicts`;
# thresholds are in thresholds.toml. Never edit a threshold to remove an entry here.
# settings_sha256: digest of the values of thresholds.toml and robustness.toml these were recorded
# under; any change of a number there is red until this file is re-recorded.
"""


def settings_files() -> tuple[Path, ...]:
    from harness.claims.grid import GRID_FILE
    from harness.claims.thresholds import THRESHOLDS_FILE
    from harness.data.designs import BUILTIN, DESIGNS_DIR

    return (THRESHOLDS_FILE, GRID_FILE, *(DESIGNS_DIR / f"{name}.toml" for name in BUILTIN))


def settings_digest(paths: Iterable[Path] | None = None) -> str:
    """sha256 of the parsed content of the settings files (order of keys and comments do not count)."""
    content = {}
    for path in paths or settings_files():
        with open(path, "rb") as fh:
            content[Path(path).name] = tomllib.load(fh)
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _entry(key: str, measured: str, threshold: str) -> list[str]:
    return [f"[{_quote(key)}]", 'verdict = "not reproduced"', f"measured = {_quote(measured)}", f"threshold = {_quote(threshold)}", ""]


def render(evaluations: Iterable[Evaluation], kept: dict[str, dict] | None = None, digest: str | None = None) -> str:
    """The file: the not-reproduced checks of `evaluations`, then the `kept` entries (recorded ones of
    sources that were not evaluated), under the settings digest."""
    lines = [HEADER, f"{SETTINGS_KEY} = {_quote(digest or settings_digest())}", ""]
    for ev in evaluations:
        for check in ev.checks.values():
            if not check.holds:
                lines += _entry(check.key, check.measured, check.condition)
    for key, entry in (kept or {}).items():
        lines += _entry(key, str(entry.get("measured", "?")), str(entry.get("threshold", "?")))
    return "\n".join(lines)


def load_file(path: Path = VERDICTS_FILE) -> dict:
    """The whole parsed file (entries and the settings digest); empty when it does not exist."""
    if not path.is_file():
        return {}
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def load_verdicts(path: Path = VERDICTS_FILE) -> dict[str, dict]:
    """The recorded checks, by check id (empty when the file does not exist)."""
    return {key: value for key, value in load_file(path).items() if isinstance(value, dict)}


def source_of(key: str, sources: Iterable[str]) -> str | None:
    """The source of a check id CLAIM[source-variant] among `sources` (longest match), or None."""
    inner = key.partition("[")[2]
    matches = [s for s in sources if inner.startswith(f"{s}-")]
    return max(matches, key=len) if matches else None


def existing_checks() -> set[str]:
    """Every check id the suite defines over the built-in and this process's file sources."""
    from harness.claims.checks import CLAIM_IDS, check_key, variants
    from harness.claims.sources import all_sources

    return {check_key(c, s, v) for c in CLAIM_IDS for s in all_sources() for v in variants(c, s)}


def record_problems(path: Path = VERDICTS_FILE) -> list[str]:
    """Why the recorded verdicts cannot be trusted as they stand (one line each): recorded under other
    settings, or entries for checks that do not exist."""
    data = load_file(path)
    problems = []
    recorded, current = data.get(SETTINGS_KEY), settings_digest()
    if recorded != current:
        names = " and ".join(p.name for p in settings_files())
        problems.append(
            f"{path.name} was recorded under other settings ({SETTINGS_KEY} {str(recorded)[:12]} != {current[:12]} of "
            f"{names}): a number changed; {RERECORD}"
        )
    unknown = sorted(set(load_verdicts(path)) - existing_checks())
    if unknown:
        problems.append(f"{path.name} records {len(unknown)} checks that do not exist: {', '.join(unknown)}; remove them or {RERECORD}")
    return problems


def merged(evaluations: list[Evaluation], recorded: dict[str, dict]) -> str:
    """The new file: fresh entries of the evaluated sources, recorded entries of every other source
    kept as they are (a source that produced no data never erases its record)."""
    evaluated = [ev.source for ev in evaluations]
    kept = {key: entry for key, entry in recorded.items() if source_of(key, evaluated) is None}
    return render(evaluations, kept)


def write_verdicts(evaluations: Iterable[Evaluation], path: Path | None = None) -> Path:
    path = path or VERDICTS_FILE
    path.write_text(merged(list(evaluations), load_verdicts(path)))
    return path

"""claims/verdicts.toml: the checks recorded as "not reproduced", "inconclusive" or "not testable"
(harness.claims.outcomes), with their measured values and the rule that decided, and the digest of
the settings they were recorded under. A check not listed is recorded "reproduced".

The claim tests mark these xfail(strict=True): CI stays green while the record is true and fails the
day a check flips either way. The file also records `settings_sha256`, a digest of the CONTENT of
claims/thresholds.toml and claims/robustness.toml (their parsed values: comments do not count), so a
changed number is red until the verdicts are re-recorded; an entry for a check that does not exist is
red too (`record_problems`). Regenerate with `python -m harness verdicts` only after reading why a
check flipped; it prints the diff, and keeps the entries of sources that produced no data.

`[coverage]` records the models each source covered when it was recorded: a source that later lacks
one (a deleted committed table, a cache that lost an entry) is red, never green with fewer checks.
The file is written atomically under a lock (harness.files: temporary file, fsync, rename), and an
empty or unparsable file is an error naming it (VerdictsError), never "no entries".
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Iterable

import tomli_w

from harness.claims.checks import Evaluation
from harness.files import atomic_write_text, locked
from harness.paths import REPO_ROOT
from harness.errors import UserError

VERDICTS_FILE = REPO_ROOT / "claims" / "verdicts.toml"  # the one definition (the pytest plugin reads it too)
SETTINGS_KEY = "settings_sha256"
COVERAGE_KEY = "coverage"  # source -> the models it covered when recorded
FILE_PREFIX = "file:"  # a user's file source: recorded entries count only in a run that names that file
RERECORD = "review the change, then re-record with `python -m harness verdicts` (it prints the diff)"

HEADER = """\
# Checks recorded as NOT REPRODUCED, INCONCLUSIVE or NOT TESTABLE, one table per check id
# (CLAIM[source-variant]); a check not listed is recorded reproduced. A check whose outcome differs
# from its record, in any direction, turns CI red (harness/claims/outcomes.py decides outcomes). Written by `python -m harness verdicts`;
# thresholds are in thresholds.toml. Never edit a threshold to remove an entry here.
# settings_sha256: digest of the values of thresholds.toml and robustness.toml these were recorded
# under; any change of a number there is red until this file is re-recorded.
# [coverage]: the models each source covered; a source that loses one is red.
"""


class VerdictsError(UserError, ValueError):
    """claims/verdicts.toml cannot be read or would not be valid (one line naming the file)."""


def settings_files() -> tuple[Path, ...]:
    from harness.claims.grid import GRID_FILE
    from harness.claims.thresholds import THRESHOLDS_FILE
    from harness.data.designs import BUILTIN, DESIGNS_DIR

    return (THRESHOLDS_FILE, GRID_FILE, *(DESIGNS_DIR / f"{name}.toml" for name in BUILTIN))


def settings_digest(paths: Iterable[Path] | None = None) -> str:
    """sha256 of the parsed content of the settings files (order of keys and comments do not count)."""
    from harness.claims.thresholds import ThresholdsError, read_toml

    content = {}
    for path in paths or settings_files():
        content[Path(path).name] = read_toml(Path(path), ThresholdsError)
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _entry(measured: str, threshold: str, verdict: str = "not reproduced", rule: str = "") -> dict[str, str]:
    return {"verdict": verdict, "measured": measured, "threshold": threshold, **({"rule": rule} if rule else {})}


def render(
    evaluations: Iterable[Evaluation], kept: dict[str, dict] | None = None, digest: str | None = None,
    coverage: dict[str, list[str]] | None = None,
) -> str:
    """The file: the settings digest, each source's models (`coverage`), the not-reproduced checks of
    `evaluations`, then the `kept` entries (recorded ones of sources that were not evaluated); written
    by tomli-w below the comment header. VerdictsError when two entries share an id."""
    document: dict = {SETTINGS_KEY: digest or settings_digest()}
    if coverage:
        document[COVERAGE_KEY] = {name: list(models) for name, models in coverage.items()}

    def entry(key: str, measured: str, threshold: str, verdict: str, rule: str = "") -> None:
        if key in document:
            raise VerdictsError(f"two verdicts for {key}: is a source named twice?")
        document[key] = _entry(measured, threshold, verdict, rule)

    for ev in evaluations:
        for check in ev.checks.values():
            if check.verdict != "reproduced":  # not reproduced, inconclusive and not testable are all recorded
                entry(check.key, check.measured, check.condition, check.verdict, check.rule)
    for key, value in (kept or {}).items():
        entry(key, str(value.get("measured", "?")), str(value.get("threshold", "?")), str(value.get("verdict", "not reproduced")),
              str(value.get("rule", "")))
    return f"{HEADER}\n{tomli_w.dumps(document)}"


def load_file(path: Path = VERDICTS_FILE) -> dict:
    """The whole parsed file (entries, coverage and the settings digest); empty when it does not
    exist. VerdictsError (one line naming the file) when it is empty, unreadable or not TOML: a
    killed or failed write must not read as "nothing recorded"."""
    path = Path(path)
    if not path.exists():
        return {}
    fix = f"restore it (`git checkout -- {path.name}` in its folder) or re-record it with `python -m harness verdicts`"
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise VerdictsError(f"{path}: cannot be read ({getattr(err, 'strerror', None) or err}); {fix}") from None
    if not text.strip():
        raise VerdictsError(f"{path} is empty (a killed or failed write?); {fix}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise VerdictsError(f"{path}: not valid TOML ({err}); {fix}") from None
    if SETTINGS_KEY not in data:
        raise VerdictsError(f"{path} has no {SETTINGS_KEY} (not written by `python -m harness verdicts`?); {fix}")
    return data


def load_verdicts(path: Path = VERDICTS_FILE) -> dict[str, dict]:
    """The recorded checks, by check id (empty when the file does not exist); VerdictsError for an
    entry whose verdict is not an outcome a record can hold."""
    from harness.claims.outcomes import OUTCOMES, REPRODUCED

    entries = {key: value for key, value in load_file(path).items() if isinstance(value, dict) and key != COVERAGE_KEY}
    allowed = [o for o in OUTCOMES if o != REPRODUCED]
    for key, value in entries.items():
        if value.get("verdict") not in allowed:
            raise VerdictsError(f"{Path(path).name}: [{key!r}] verdict = {value.get('verdict')!r} must be one of {', '.join(allowed)} "
                                "(a reproduced check is not listed)")
    return entries


def load_coverage(path: Path = VERDICTS_FILE) -> dict[str, list[str]]:
    """The models each source covered when recorded (source -> models)."""
    coverage = load_file(path).get(COVERAGE_KEY, {})
    return {name: list(models) for name, models in coverage.items()} if isinstance(coverage, dict) else {}


def models_of(evaluation: Evaluation | object) -> list[str]:
    """The models a source's evaluation covered (none for a source without data: a reason string)."""
    if not isinstance(evaluation, Evaluation):
        return []
    if evaluation.table is not None and len(evaluation.table):
        return sorted(set(evaluation.table["model"]))
    summary = evaluation.summary
    return sorted(set(summary["base_model"]) | set(summary["tgt_model"])) if len(summary) else []


def coverage_problems(now: dict[str, list[str]], path: Path = VERDICTS_FILE) -> list[str]:
    """One line per source of `now` (source -> models it has in this run) lacking a model it covered
    when the verdicts were recorded (its checks would be skipped, not passed), or having one its record
    does not list (its verdicts were recorded without it, or a [coverage] line was deleted)."""
    problems = []
    for name, recorded in load_coverage(path).items():
        if name not in now:
            continue
        lost = sorted(set(recorded) - set(now[name]))
        if lost:
            problems.append(
                f"source {name} lost {len(lost)} of the {len(recorded)} models {Path(path).name} records for it: {', '.join(lost)} "
                f"(its checks on them would be skipped, not passed); restore their tables (committed ones: `git checkout -- "
                f"fixtures/recomputed`) or, if the loss is intended, {RERECORD}"
            )
        unlisted = sorted(set(now[name]) - set(recorded))
        if unlisted:
            problems.append(
                f"source {name} covers {', '.join(unlisted)}, which its [coverage] in {Path(path).name} does not list "
                f"(its verdicts were recorded without them, or their lines were deleted); {RERECORD}"
            )
    return problems


def coverage_record_problems(data: dict, path: Path) -> list[str]:
    """[coverage] against the file's own entries and the sources of this process: an entry naming no
    source (a ghost), or a source with recorded verdicts and no [coverage] entry (a deleted line)."""
    from harness.claims.sources import all_sources

    coverage = data.get(COVERAGE_KEY, {})
    if not isinstance(coverage, dict):
        return [f"{path.name}: [coverage] is no table of source = [models]; restore it or {RERECORD}"]
    known = all_sources()
    problems = [
        f"{path.name}: [coverage] names {name!r}, no source of this suite or of this run's designs ({', '.join(known)}); "
        f"remove it or {RERECORD}"
        for name in sorted(set(coverage) - set(known)) if not name.startswith(FILE_PREFIX)
    ]
    with_entries = {source_of(key, known) for key in load_verdicts(path)} - {None}
    uncovered = sorted(name for name in with_entries - set(coverage) if not name.startswith(FILE_PREFIX))  # type: ignore[union-attr]
    if uncovered:
        problems.append(
            f"{path.name} records verdicts of {', '.join(uncovered)} but no [coverage] line for it (deleted?): a lost model "
            f"would go unnoticed; {RERECORD}"
        )
    return problems


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


def record_problems(path: Path = VERDICTS_FILE, coverage: dict[str, list[str]] | None = None) -> list[str]:
    """Why the recorded verdicts cannot be trusted as they stand (one line each): recorded under other
    settings, entries for checks that do not exist (a file:PATH source's entries count only when that
    source is in this process), or a source of `coverage` (source -> models now) that lost a model."""
    data = load_file(path)
    problems = []
    recorded, current = data.get(SETTINGS_KEY), settings_digest()
    if recorded != current:
        names = " and ".join(p.name for p in settings_files())
        problems.append(
            f"{path.name} was recorded under other settings ({SETTINGS_KEY} {str(recorded)[:12]} != {current[:12]} of "
            f"{names}): a number changed; {RERECORD}"
        )
    unknown = sorted(
        key for key in set(load_verdicts(path)) - existing_checks() if not key.partition("[")[2].startswith(FILE_PREFIX)
    )
    if unknown:
        problems.append(f"{path.name} records {len(unknown)} checks that do not exist: {', '.join(unknown)}; remove them or {RERECORD}")
    return problems + coverage_record_problems(data, Path(path)) + coverage_problems(coverage or {}, path)


def merged(
    evaluations: list[Evaluation], recorded: dict[str, dict], recorded_coverage: dict[str, list[str]] | None = None
) -> str:
    """The new file: fresh entries and coverage of the evaluated sources, recorded entries and coverage
    of every other source kept as they are (a source that produced no data never erases its record).
    A file:PATH source gets entries but no coverage (a user's file is no standing source)."""
    evaluated = [ev.source for ev in evaluations]
    names = [name for name in evaluated if not name.startswith(FILE_PREFIX)]
    if len(set(evaluated)) != len(evaluated):
        twice = sorted({n for n in evaluated if evaluated.count(n) > 1})
        raise VerdictsError(f"source {', '.join(twice)} given twice")
    kept = {key: entry for key, entry in recorded.items() if source_of(key, evaluated) is None}
    coverage = {name: models for name, models in (recorded_coverage or {}).items() if name not in evaluated}
    coverage.update({ev.source: models_of(ev) for ev in evaluations if ev.source in names})
    return render(evaluations, kept, coverage=dict(sorted(coverage.items())))


def write_verdicts(evaluations: Iterable[Evaluation], path: Path | None = None) -> Path:
    """Merge `evaluations` into the file and write it atomically, all under the file's lock (two
    concurrent runs never lose each other's entries)."""
    path = Path(path or VERDICTS_FILE)
    with locked(path):
        atomic_write_text(path, merged(list(evaluations), load_verdicts(path), load_coverage(path)))
    return path

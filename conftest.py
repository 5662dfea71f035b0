"""Suite-wide pytest wiring: sources of head tables, the verdict file, the claims report, snapshots.

- `check_claim(claim, source, variant)` evaluates one claim check (claims/), records it for the
  report, skips with the reason when the source lacks the models, and asserts that the claim holds.
- claims/verdicts.toml lists checks recorded as "not reproduced"; they are marked xfail(strict=True),
  so CI stays green and turns red the day a verdict flips either way.
- At the end of a run that executed claim checks, a verdict table is printed; `--claims-report` writes
  it as Markdown and `--claims-plot` draws the six pairs as a PNG.
- Snapshots (syrupy) live under snapshots/ at the top of the repository.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from syrupy.extensions.amber import AmberSnapshotExtension

ROOT = Path(__file__).resolve().parent
VERDICTS_FILE = ROOT / "claims" / "verdicts.toml"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ioi-claims")
    group.addoption("--claims-report", metavar="PATH", help="write the claims verdict table as Markdown to PATH")
    group.addoption("--claims-plot", metavar="PATH", help="write a PNG of the six pairs (published source) to PATH")
    group.addoption(
        "--sources",
        default=None,
        help="comma-separated sources to check (default: all of published, recomputed:mean, recomputed:zero)",
    )
    group.addoption(
        "--allow-modified-fixtures",
        action="store_true",
        help="run on published tables whose sha256 no longer matches (to watch tests go red on an edit)",
    )
    group.addoption(
        "--no-compute",
        action="store_true",
        help="recomputed sources: use cached head tables only, never run a model",
    )
    group.addoption("--device", default="auto", help="device for recomputed sources: auto|cpu|cuda")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--allow-modified-fixtures"):
        os.environ["IOI_CLAIMS_ALLOW_MODIFIED"] = "1"
    config._claims_checks = []  # type: ignore[attr-defined]
    config._claims_skipped = {}  # type: ignore[attr-defined]
    config._claims_evaluations = {}  # type: ignore[attr-defined]


def load_verdicts(path: Path = VERDICTS_FILE) -> dict[str, dict]:
    if not path.is_file():
        return {}
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from harness.claims import check_key

    verdicts = load_verdicts()
    wanted = config.getoption("--sources")
    wanted = set(wanted.split(",")) if wanted else None
    deselected, kept = [], []
    for item in items:
        spec = getattr(item, "callspec", None)
        params = spec.params if spec else {}
        if {"claim", "source", "variant"} <= set(params):
            if wanted is not None and params["source"] not in wanted:
                deselected.append(item)
                continue
            key = check_key(params["claim"], params["source"], params["variant"])
            entry = verdicts.get(key)
            if entry and entry.get("verdict") == "not reproduced":
                item.add_marker(
                    pytest.mark.xfail(strict=True, raises=AssertionError, reason=f"recorded not reproduced: {entry.get('measured', '?')}")
                )
        kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def _evaluation(config: pytest.Config, source: str):
    """The claims evaluation of a source (computed once per session), or the reason it has none."""
    from harness import claims, sources

    cache = config._claims_evaluations  # type: ignore[attr-defined]
    if source not in cache:
        src = sources.load(source, compute=not config.getoption("--no-compute"), device=config.getoption("--device"))
        if src.table.empty:
            cache[source] = "; ".join(src.notes) or "no head table available"
        else:
            cache[source] = claims.evaluate(src.table, source)
    return cache[source]


@pytest.fixture
def check_claim(request: pytest.FixtureRequest):
    """Evaluate one check of one claim on one source and assert that it holds."""
    from harness.claims import check_key

    config = request.config

    def run(claim: str, source: str, variant: str) -> None:
        key = check_key(claim, source, variant)
        ev = _evaluation(config, source)
        if isinstance(ev, str):
            config._claims_skipped[key] = f"source {source} has no data: {ev}"
            pytest.skip(config._claims_skipped[key])
        check = ev.checks.get((claim, variant))
        if check is None:
            reason = ev.unavailable.get((claim, variant), "not computed")
            config._claims_skipped[key] = reason
            pytest.skip(reason)
        config._claims_checks.append(check)
        assert check.holds, f"{key} not reproduced: measured {check.measured}; needs {check.condition}"

    return run


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    from harness import report

    checks = config._claims_checks  # type: ignore[attr-defined]
    skipped = config._claims_skipped  # type: ignore[attr-defined]
    if not checks and not skipped:
        return
    from harness import robustness

    results = config._claims_evaluations  # type: ignore[attr-defined]
    notes = robustness.notes_for([e for e in results.values() if not isinstance(e, str)])
    frame = report.verdict_frame(checks, skipped, notes)
    terminalreporter.section("claims verdicts (robustness: share of the claims/robustness.toml grid where the check holds)")
    shown = frame[~frame["verdict"].str.startswith("skipped")]
    terminalreporter.write_line(report.terminal_table(shown) if len(shown) else "(no check ran)")
    n_skip = len(frame) - len(shown)
    if n_skip:
        terminalreporter.write_line(f"{n_skip} checks skipped (reasons per source below and with -rs)")
    table_of_sources = report.sources_frame(results)
    terminalreporter.write_line("")
    terminalreporter.write_line(report.terminal_sources(table_of_sources))
    reference = report.reference_summary()
    terminalreporter.write_line("reference model: " + "\n  ".join(reference))
    evaluations = [e for e in results.values() if not isinstance(e, str)]
    path = config.getoption("--claims-report")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(report.summary_markdown(evaluations, checks, skipped, table_of_sources, reference, notes))
        terminalreporter.write_line(f"claims report written to {path}")
    plot = config.getoption("--claims-plot")
    if plot and evaluations:
        from harness import thresholds

        unc = thresholds.load()["uncertainty"]
        ev = next((e for e in evaluations if e.source == "published"), evaluations[0])
        intervals = report.pair_intervals(ev, unc["n_boot"], unc["level"], unc["seed"])
        terminalreporter.write_line(f"claims plot written to {report.plot_pairs(ev, Path(plot), intervals)}")


class RepoSnapshotExtension(AmberSnapshotExtension):
    """Amber snapshots kept under <repo>/snapshots/<test folder>/ instead of next to each test."""

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(ROOT / "snapshots" / Path(test_location.filepath).parent.name)


@pytest.fixture
def snapshot(snapshot):
    return snapshot.use_extension(RepoSnapshotExtension)

"""The suite's pytest plugin (loaded by the root conftest.py through `pytest_plugins`).

- `check_claim(claim, source, variant)` evaluates one claim check (claims/), records it for the
  verdict table, skips with the reason when the source lacks the models, and asserts that it holds.
- claims/verdicts.toml lists checks recorded as "not reproduced"; they are marked xfail(strict=True),
  so CI stays green and turns red the day a verdict flips either way.
- After a run that executed claim checks, the controlling process prints the verdict table, each
  check with its robustness (share of the claims/robustness.toml table-level grid where it holds;
  `--claims-no-robustness` leaves the column out); `--claims-report` writes it as Markdown and
  `--claims-plot` draws the six pairs as a PNG.
- Snapshots (syrupy) live under snapshots/<test folder>/ at the top of the repository; those of a
  user's design (--claims-design) under <design dir>/snapshots/<design name>/.

Options share the `--claims-` prefix (plus `--allow-modified-fixtures`). All state lives in one
`ClaimsSession` in `config.stash`. Under pytest-xdist each worker evaluates the sources its tests
need and ships every check result in the test report's `user_properties`; the controller collects
them in `pytest_runtest_logreport` (which also sees the reports of a serial run), so `pytest -n 2`
prints the same table as a serial run. The terminal summary and the files run on the controller only.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.amber import AmberSnapshotExtension

from harness import options
from harness.claims.outcomes import INCONCLUSIVE, NOT_TESTABLE, REPRODUCED
from harness.paths import REPO_ROOT

CHECK_PROPERTY = "claims_check"  # user_properties entry: the Check as a dict
SKIP_PROPERTY = "claims_skip"  # user_properties entry: [claim, source, variant, reason]


@dataclass(eq=False)  # registered as a plugin: pluggy needs it hashable (identity)
class ClaimsSession:
    """The plugin's state for one pytest run: options, evaluations of this process, and the check
    results collected from the test reports (of this process, or of every worker under xdist)."""

    sources: frozenset[str] | None
    device: str
    compute: bool
    allow_modified: bool
    report_path: Path | None
    plot_path: Path | None
    robustness: bool = True
    evaluations: dict[str, Any] = field(default_factory=dict)  # source -> Evaluation | reason (str)
    checks: dict[tuple[str, str, str], Any] = field(default_factory=dict)  # (claim, source, variant) -> Check
    skipped: dict[tuple[str, str, str], str] = field(default_factory=dict)
    record_problems: list[str] = field(default_factory=list)  # claims/verdicts.toml out of date (sessionfinish)
    recorded: dict[str, dict] = field(default_factory=dict)  # claims/verdicts.toml's entries, by check id

    @classmethod
    def from_config(cls, config: pytest.Config) -> ClaimsSession:
        wanted = config.getoption("--claims-sources")
        report, plot = config.getoption("--claims-report"), config.getoption("--claims-plot")
        return cls(
            sources=frozenset(wanted.split(",")) if wanted else None,
            device=config.getoption("--claims-device"),
            compute=not config.getoption("--claims-no-compute"),
            allow_modified=config.getoption("--allow-modified-fixtures"),
            report_path=Path(report) if report else None,
            plot_path=Path(plot) if plot else None,
            robustness=not config.getoption("--claims-no-robustness"),
        )

    def evaluation(self, source: str, compute: bool | None = None):
        """The claims evaluation of a source (computed once per process), or the reason it has none."""
        from harness.claims import checks, instrument, sources

        if source not in self.evaluations and source == instrument.SOURCE and not isinstance(checks.instrument_evaluation(), str):
            self.evaluations[source] = checks.instrument_evaluation()  # evaluated once: it is also the M claims' premise
        if source not in self.evaluations:
            try:
                src = sources.load(
                    source, allow_modified=self.allow_modified, compute=self.compute if compute is None else compute, device=self.device
                )
                if src.table.empty:
                    self.evaluations[source] = "; ".join(src.notes) or "no head table available"
                else:
                    self.evaluations[source] = checks.evaluate_source(src)
            except Exception as err:
                self.evaluations[source] = Broken(source, " ".join(str(err).split()) or type(err).__name__)
        return self.evaluations[source]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Hook (this object is registered as a plugin): collect the results a test's call carries."""
        if report.when == "call":
            self.record(report)

    def record(self, report: pytest.TestReport) -> None:
        """Take the check results a test report carries (from this process or an xdist worker)."""
        from harness.claims.checks import Check

        for name, value in report.user_properties:
            if name == CHECK_PROPERTY:
                check = Check(**value)
                self.checks[(check.claim, check.source, check.variant)] = check
            elif name == SKIP_PROPERTY:
                claim, source, variant, reason = value
                self.skipped[(claim, source, variant)] = reason


def _plain(values: dict) -> dict:
    """Plain Python types: xdist ships user_properties through execnet, which takes no numpy scalars."""
    out = {}
    for name, value in values.items():
        if isinstance(value, (bool, str)) or value is None:
            out[name] = value
        elif hasattr(value, "item"):
            out[name] = value.item()
        else:
            out[name] = value
    return out


class Broken(str):
    """The evaluation of a source that failed to load: its one-line reason (a str, so the verdict and
    sources tables show it as a source without data); its tests fail with that line."""

    def __new__(cls, source: str, reason: str):
        return super().__new__(cls, f"FAILED: {reason}")


SESSION = pytest.StashKey[ClaimsSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ioi-claims")
    group.addoption(
        "--claims-sources",
        default=None,
        metavar="LIST",
        help="comma-separated sources to check (default: every built-in source and those of --claims-design)",
    )
    options.add_pytest(group, "device", "design", "no-compute")
    group.addoption("--claims-report", metavar="PATH", help="write the claims verdict table as Markdown to PATH")
    group.addoption("--claims-plot", metavar="PATH", help="write a PNG of the six pairs (published source) to PATH")
    group.addoption(
        "--claims-no-robustness",
        action="store_true",
        help="leave the robustness column (claims/robustness.toml table-level grid) out of the verdict table",
    )
    group.addoption(
        "--allow-modified-fixtures",
        action="store_true",
        help="run on published tables whose sha256 no longer matches (to watch tests go red on an edit)",
    )


def _check_sources(config: pytest.Config) -> None:
    """An unknown --claims-sources name or a bad --claims-design file is a usage error (exit 4), never a
    deselection of every test; a file:PATH source and a design's sources are added to the parametrized
    sources (claims/test_claims.py reads all_sources)."""
    from harness.claims import sources
    from harness.data.designs import DesignError

    design = config.getoption("--claims-design")
    if design:
        try:
            sources.use_design(design)
        except (DesignError, ValueError) as err:
            raise pytest.UsageError(f"--claims-design: {err}") from None
    wanted = config.getoption("--claims-sources")
    for name in (wanted.split(",") if wanted else []):
        try:
            sources.parse(name)
        except sources.UnknownSource as err:
            raise pytest.UsageError(f"--claims-sources: {err}") from None
        sources.use(name)


def _check_settings_files() -> None:
    """claims/thresholds.toml, claims/robustness.toml and claims/verdicts.toml are read before any
    test: one that is empty, unparsable or out of range is a usage error naming the file and key
    (exit 4), never a traceback or an INTERNALERROR in the middle of a run."""
    import tomllib

    from harness.claims import grid, thresholds, verdicts

    try:
        thresholds.load()
        grid.load()
        verdicts.load_file()
    except (ValueError, OSError, tomllib.TOMLDecodeError) as err:
        raise pytest.UsageError(" ".join(str(err).split())) from None


def _check_outputs(config: pytest.Config) -> None:
    """--claims-report / --claims-plot must be writable before the run, not fail after it."""
    from harness.files import output_problem, unwritable

    for option in ("--claims-report", "--claims-plot"):
        value = config.getoption(option)
        if not value:
            continue
        path = Path(value)
        problem = output_problem(path) or unwritable(path.parent)
        if problem:
            raise pytest.UsageError(f"{option} {value}: cannot write there ({problem})")


def _check_snapshot_inputs(config: pytest.Config) -> None:
    """With --snapshot-update, every committed table a snapshot is made from is verified before any test
    runs: a damaged or unverified one (a published table off its SHA256SUMS, a committed score entry
    failing its checksum or without metadata) is a usage error naming the file (exit 4). A test that
    errors on it would leave its snapshot unused, and syrupy deletes unused snapshots on an update."""
    if not getattr(config.option, "update_snapshots", False):
        return
    from harness.data import published
    from harness.runs.cache import CommittedEntryCorrupt, committed_cache

    modified = published.modified_files()
    if modified:
        raise pytest.UsageError(f"--snapshot-update: published tables {', '.join(modified)} differ from fixtures/published/SHA256SUMS: "
                                "restore them (`git checkout -- fixtures/published`) first; no snapshot was touched")
    try:
        committed_cache().verify()
    except CommittedEntryCorrupt as err:
        raise pytest.UsageError(f"--snapshot-update: {err}; no snapshot was touched") from None


def pytest_configure(config: pytest.Config) -> None:
    _check_sources(config)
    _check_settings_files()
    _check_outputs(config)
    _check_snapshot_inputs(config)
    session = ClaimsSession.from_config(config)
    config.stash[SESSION] = session
    config.pluginmanager.register(session, "ioi-claims-session")


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from harness.claims.checks import check_key
    from harness.claims.verdicts import load_verdicts

    session = config.stash[SESSION]
    verdicts = session.recorded = load_verdicts()
    deselected, kept = [], []
    for item in items:
        spec = getattr(item, "callspec", None)
        params = spec.params if spec else {}
        if {"claim", "source", "variant"} <= set(params):
            if session.sources is not None and params["source"] not in session.sources:
                deselected.append(item)
                continue
            entry = verdicts.get(check_key(params["claim"], params["source"], params["variant"]))
            if entry and entry.get("verdict") == "not reproduced":
                item.add_marker(
                    pytest.mark.xfail(strict=True, raises=AssertionError, reason=f"recorded not reproduced: {entry.get('measured', '?')}")
                )
        kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture
def check_claim(request: pytest.FixtureRequest):
    """Evaluate one check of one claim on one source and assert that it holds."""
    from harness.claims.checks import check_key

    session = request.config.stash[SESSION]
    properties = request.node.user_properties

    def skip(claim: str, source: str, variant: str, reason: str) -> None:
        properties.append((SKIP_PROPERTY, [claim, source, variant, reason]))
        pytest.skip(reason)

    def run(claim: str, source: str, variant: str) -> None:
        key = check_key(claim, source, variant)
        ev = session.evaluation(source)
        if isinstance(ev, Broken):
            properties.append((SKIP_PROPERTY, [claim, source, variant, str(ev)]))
            pytest.fail(f"source {source} {ev}", pytrace=False)
        if isinstance(ev, str):
            skip(claim, source, variant, f"source {source} has no data: {ev}")
        check = ev.checks.get((claim, variant))
        if check is None:
            skip(claim, source, variant, ev.unavailable.get((claim, variant), "not computed"))
        properties.append((CHECK_PROPERTY, _plain(asdict(check))))
        recorded = session.recorded.get(key, {}).get("verdict", REPRODUCED)
        outcome = check.verdict
        if outcome != recorded:  # any change to or from any outcome is red, whatever the direction
            pytest.fail(f"{key} is now {outcome}, recorded {recorded}: measured {check.measured}; needs {check.condition}; "
                        f"{check.rule}. Review it, then re-record with `python -m harness verdicts`", pytrace=False)
        if outcome == NOT_TESTABLE:
            pytest.skip(f"not testable: {check.rule}")
        if outcome == INCONCLUSIVE:
            pytest.xfail(f"inconclusive (recorded): {check.measured}; {check.rule}")
        assert outcome == REPRODUCED, f"{key} not reproduced: measured {check.measured}; needs {check.condition}; {check.rule}"

    return run


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if _is_xdist_worker(config):
        return
    from harness.claims import checks as claims_checks
    from harness.claims import sources, thresholds
    from harness.report import render as report

    session = config.stash[SESSION]
    if not session.checks and not session.skipped:
        return
    ordered = sorted(set(session.checks) | set(session.skipped), key=claims_checks.check_order(sources.all_sources()))
    checks = [session.checks[k] for k in ordered if k in session.checks]
    skipped = {claims_checks.check_key(*k): session.skipped[k] for k in ordered if k in session.skipped}
    # A serial run evaluated its sources already; under xdist the workers did, and this process reads
    # them again from the caches the workers filled (compute=False: the controller never runs a model).
    results = {source: session.evaluation(source, compute=False) for source in dict.fromkeys(k[1] for k in ordered)}
    built = report.build_report(results, thresholds.load(), checks=checks, skipped=skipped, robustness=session.robustness)
    frame = built.verdicts
    title = "claims verdicts" + (" (robustness: share of the claims/robustness.toml grid where the check holds)" if built.robustness is not None else "")
    terminalreporter.section(title)
    for line in built.preface:
        terminalreporter.write_line(line, red=line.startswith("WARNING"))
    shown = frame[~frame["verdict"].str.startswith("skipped")]
    terminalreporter.write_line(report.terminal_table(shown) if len(shown) else "(no check ran)")
    n_skip = len(frame) - len(shown)
    if n_skip:
        terminalreporter.write_line(f"{n_skip} checks skipped (reasons per source below and with -rs)")
    terminalreporter.write_line("")
    terminalreporter.write_line(report.terminal_sources(built.sources))
    terminalreporter.write_line("reference model: " + "\n  ".join(built.reference))
    for line in report.write_files(built, markdown=session.report_path, plot=session.plot_path):
        terminalreporter.write_line(line)
    for name, ev in results.items():
        if isinstance(ev, Broken):
            terminalreporter.write_line(f"error: source {name} {ev}", red=True)
    if session.record_problems:
        terminalreporter.section("claims record (claims/verdicts.toml)", red=True)
        for line in session.record_problems:
            terminalreporter.write_line(f"error: {line}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The recorded verdicts must be current (settings digest, no stale entries): a run that checked
    claims is red otherwise, however its tests went."""
    config = session.config
    if _is_xdist_worker(config):
        return
    from harness.claims.verdicts import record_problems

    from harness.claims.verdicts import models_of

    state = config.stash[SESSION]
    if not state.checks and not state.skipped:
        return
    # A source that lost a model it covered when the verdicts were recorded is red (its checks on that
    # model would only be skipped); under xdist this process reads the sources from the filled caches.
    ran = dict.fromkeys(k[1] for k in (*state.checks, *state.skipped))
    evaluations = {s: state.evaluation(s, compute=False) for s in ran}
    state.record_problems = record_problems(coverage={s: models_of(ev) for s, ev in evaluations.items() if not isinstance(ev, Broken)})
    if state.record_problems and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class RepoSnapshotExtension(AmberSnapshotExtension):
    """Amber snapshots kept under <repo>/snapshots/<test folder>/ instead of next to each test."""

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(REPO_ROOT / "snapshots" / Path(test_location.filepath).parent.name)


@pytest.fixture
def snapshot(snapshot):
    return snapshot.use_extension(RepoSnapshotExtension)


@functools.lru_cache(maxsize=None)
def design_snapshot_extension(folder: Path) -> type[AmberSnapshotExtension]:
    """The snapshot extension of a user's design: Amber files under `folder` (<design dir>/snapshots/
    <design name>/), one class per folder. Syrupy looks for stored snapshots only through the
    extensions a run uses, so a design's files are never reported unused by a run without it."""

    class DesignSnapshotExtension(AmberSnapshotExtension):
        @classmethod
        def dirname(cls, *, test_location) -> str:
            return str(folder)

    return DesignSnapshotExtension


@pytest.fixture
def claims_evaluation(request: pytest.FixtureRequest):
    """The claims evaluation of a source by name, computed once per process (the one the claim checks
    use; missing tables are scanned unless --claims-no-compute), or the reason it has none (a str)."""
    return request.config.stash[SESSION].evaluation

"""What the suite refuses (issue 8): a gate that cannot be bypassed, user tables (file:PATH), broken
sources that fail alone, one-line user errors with a non-zero exit, and claims/verdicts.toml written
atomically and read strictly."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.claims import checks, sources, thresholds, verdicts
from harness.cli.main import main
from harness.data import published
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.unit

HEADS = published.PUBLISHED_DIR / published.HEADS_FILE




# --- the gate ------------------------------------------------------------------------------------


def run_pytest(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )


def test_an_unknown_source_is_a_usage_error_not_a_deselection():
    result = run_pytest("claims/test_claims.py", "--collect-only", "-q", "--claims-sources", "publishd")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR == 4
    assert "unknown source 'publishd'" in result.stderr


def test_a_file_source_is_collected_and_named_with_its_sha256(tmp_path):
    mine = tmp_path / "mine.csv"
    shutil.copy(HEADS, mine)
    result = run_pytest("claims/test_claims.py", "-q", "-k", "P1", "--claims-sources", f"file:{mine}", "--claims-no-robustness")
    assert f"P1[file:{mine}-mfr]" in result.stdout, result.stdout[-2000:]  # in the verdict table
    assert published.sha256_of(mine) in result.stdout
    assert "published-" not in result.stdout.split("claims verdicts")[-1]  # only the file source ran


def test_the_recorded_verdicts_are_current():
    assert verdicts.record_problems() == []


def test_a_changed_number_is_red_until_re_recorded(tmp_path, monkeypatch):
    files = []
    for path in verdicts.settings_files():
        shutil.copy(path, tmp_path / path.name)
        files.append(tmp_path / path.name)
    monkeypatch.setattr(verdicts, "settings_files", lambda: tuple(files))
    recorded = tmp_path / "verdicts.toml"
    shutil.copy(verdicts.VERDICTS_FILE, recorded)
    text = files[0].read_text()
    recorded.write_text(recorded.read_text().replace(verdicts.load_file()[verdicts.SETTINGS_KEY], verdicts.settings_digest()))
    assert verdicts.record_problems(recorded) == []
    files[0].write_text(text + "\n# a comment changes no number\n")
    assert verdicts.record_problems(recorded) == []
    assert "max_kept_strong" in text
    files[0].write_text(text.replace("max_kept_strong = ", "max_kept_strong = 1.0 #", 1))
    problems = verdicts.record_problems(recorded)
    assert len(problems) == 1 and "python -m harness verdicts" in problems[0] and "thresholds.toml" in problems[0]


def test_a_verdict_for_a_check_that_does_not_exist_is_red(tmp_path):
    recorded = tmp_path / "verdicts.toml"
    recorded.write_text(verdicts.VERDICTS_FILE.read_text() + '\n["P9[published-mfr]"]\nverdict = "not reproduced"\n')
    problems = verdicts.record_problems(recorded)
    assert any("P9[published-mfr]" in p and "do not exist" in p for p in problems)


def test_verdicts_of_a_source_without_data_are_never_erased(tmp_path, capsys):
    recorded = tmp_path / "verdicts.toml"
    fake = '\n["P1[recomputed:mean-mfr]"]\nverdict = "not reproduced"\nmeasured = "m"\nthreshold = "t"\n'
    recorded.write_text(verdicts.VERDICTS_FILE.read_text() + fake)
    before = recorded.read_text()
    assert main(["verdicts", "--sources", "recomputed:mean", "--out", str(recorded)]) == 0  # no weights here
    assert "P1[recomputed:mean-mfr]" in verdicts.load_verdicts(recorded)
    assert set(verdicts.load_verdicts(recorded)) == set(verdicts.load_verdicts(verdicts.VERDICTS_FILE)) | {"P1[recomputed:mean-mfr]"}
    # re-recording another source keeps it too, and the diff is printed before the write
    recorded.write_text(before.replace('measured = "mean_frac_rank = 0.491', 'measured = "mean_frac_rank = 0.999'))
    assert main(["verdicts", "--sources", "published", "--out", str(recorded)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("---") and '-measured = "mean_frac_rank = 0.999' in out
    assert "P1[recomputed:mean-mfr]" in verdicts.load_verdicts(recorded)


def test_verdicts_check_only_prints_the_diff(tmp_path, capsys):
    recorded = tmp_path / "verdicts.toml"
    recorded.write_text(verdicts.VERDICTS_FILE.read_text().replace("0.491", "0.999"))
    before = recorded.read_text()
    assert main(["verdicts", "--check", "--out", str(recorded)]) == 1
    assert recorded.read_text() == before and "0.999" in capsys.readouterr().out


# --- user tables, broken sources -----------------------------------------------------------------


def test_transfer_and_report_take_a_user_file(tmp_path, capsys):
    mine = tmp_path / "mine.csv"
    shutil.copy(HEADS, mine)
    assert main(["transfer", "--source", f"file:{mine}"]) == 0
    mine_out = capsys.readouterr().out
    assert main(["transfer"]) == 0
    assert mine_out == capsys.readouterr().out  # the same table gives the same numbers
    report = tmp_path / "r.md"
    assert main(["report", "--source", f"file:{mine}", "--markdown", str(report)]) == 0
    out = capsys.readouterr().out
    assert f"P1[file:{mine}-mfr]" in out and published.sha256_of(mine) in out
    assert published.sha256_of(mine) in report.read_text().split("## Verdicts")[0]


def test_a_broken_source_fails_alone(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADS.read_text().replace("-0.", "-inf", 1).replace("-inf", "-0.", 0))
    assert main(["report", "--source", f"published,file:{bad}"]) == 1
    captured = capsys.readouterr()
    assert "P1[published-mfr]" in captured.out  # the other source's verdicts are printed
    errors = [line for line in captured.err.splitlines() if line.startswith("error: source")]
    assert len(errors) == 1 and f"file:{bad}" in errors[0] and "line " in errors[0]


def test_the_pytest_plugin_fails_a_broken_source_alone(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADS.read_text().replace("ioi_only", "IOI-like", 1))
    result = run_pytest("claims/test_claims.py", "-q", "-k", "P1", "--claims-sources", f"published,file:{bad}", "--claims-no-robustness")
    assert result.returncode == 1
    assert "P1[published-mfr]" in result.stdout and "category 'IOI-like'" in result.stdout
    assert f"FAILED claims/test_claims.py::test_P1[file:{bad}-mfr]" in result.stdout


# --- errors a person can read --------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["transfer", "--source", "publishd"], "unknown source 'publishd'"),
        (["transfer", "--source", "recomputed:mean"], "source recomputed:mean has no head table"),
        (["transfer", "--k", "0"], "--k 0: transfer.k = 0 must be >= 1"),
        (["transfer", "--intervals", "--n-boot", "0"], "--n-boot 0 with --intervals"),
        (["transfer", "--out", "/proc/no/such/dir.csv"], "cannot write /proc/no/such/dir.csv"),
        (["scores", "--model", "nosuch"], "unknown model 'nosuch'"),
        (["transfer", "--source", "file:/no/such.csv"], "head table /no/such.csv: no such file"),
    ],
)
def test_user_errors_end_in_one_line_and_exit_2(capsys, argv, expected, one_error_line):
    assert main(argv) == 2
    assert expected in one_error_line()


@pytest.mark.parametrize("error", [KeyError("no such key"), ValueError("a bad internal value"), LookupError("lost")])
def test_a_bug_is_its_traceback_and_a_hint_never_a_user_error(capsys, monkeypatch, error):
    """An exception of the harness's own code is not the user's mistake: the traceback and one line
    asking to report it (exit 1), never the one-line exit 2 of bad input."""
    from harness.cli import audit

    def broken(args):
        raise error

    monkeypatch.setattr(audit, "run", broken)
    assert main(["audit"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and type(error).__name__ in err
    assert err.strip().splitlines()[-1].startswith("error: this is a bug of the harness") and "(--debug" not in err


def test_every_refusal_of_input_is_a_user_error():
    """Each module's own refusal class derives from harness.errors.UserError (exit 2 on the command
    line) and keeps the builtin base its callers catch."""
    from harness.claims import grid, role_grid, sources, thresholds
    from harness.data import designs, head_table
    from harness.errors import InputError, NotStored, UnknownName, UserError
    from harness.models import gguf, weights
    from harness.runs import cache

    refusals = [designs.DesignError, thresholds.ThresholdsError, grid.GridError, verdicts.VerdictsError, role_grid.RoleGridError,
                sources.UnknownSource, head_table.HeadTableError, published.FixtureModified, weights.WeightsNotFound,
                gguf.GgufMissing, gguf.GgufHashMismatch, cache.CommittedEntryCorrupt, InputError, UnknownName, NotStored]
    assert [cls.__name__ for cls in refusals if not issubclass(cls, UserError)] == []
    assert issubclass(InputError, ValueError) and issubclass(UnknownName, KeyError) and issubclass(NotStored, LookupError)
    assert str(UnknownName("unknown model 'x'")) == "unknown model 'x'"


def test_debug_shows_the_traceback():
    with pytest.raises(ValueError, match="unknown source"):
        main(["transfer", "--source", "publishd", "--debug"])


def test_k_beyond_a_models_heads_says_what_it_was_capped_to(capsys):
    assert main(["transfer", "--k", "500"]) == 0
    assert "k = 500 capped to 20 for base pythia-70m" in capsys.readouterr().err


def test_a_modified_fixture_is_refused_unless_allowed_and_then_said_at_the_top(tmp_path, capsys, monkeypatch, one_error_line):
    sums = published.expected_checksums()
    monkeypatch.setattr(published, "expected_checksums", lambda directory=None: {**sums, published.HEADS_FILE: "0" * 64})
    monkeypatch.delenv(published.ALLOW_MODIFIED_ENV, raising=False)
    assert main(["transfer"]) == 2
    assert "was modified" in one_error_line()
    report = tmp_path / "r.md"
    assert main(["report", "--source", "published", "--allow-modified-fixtures", "--markdown", str(report)]) == 0
    assert capsys.readouterr().out.startswith("WARNING: made on MODIFIED published fixtures")
    assert report.read_text().splitlines()[2].startswith("> **WARNING: made on MODIFIED")


# --- claims/verdicts.toml and the settings files: atomic, locked, never empty (issue 21: seen red before its fix, at 3fb7107)


def test_verdicts_twice_the_same_source_is_refused_and_writes_nothing(tmp_path, capsys, one_error_line):
    recorded = tmp_path / "verdicts.toml"
    shutil.copy(verdicts.VERDICTS_FILE, recorded)
    before = recorded.read_text()
    assert main(["verdicts", "--sources", "published,published", "--out", str(recorded)]) == 2
    assert "--sources names published more than once" in one_error_line()
    assert recorded.read_text() == before

@pytest.mark.parametrize("content, reason", [("", "is empty"), ("   \n", "is empty"), ('["P1[published-mfr]"\nx=', "not valid TOML")])
def test_an_empty_or_unparsable_verdicts_file_is_an_error_naming_it(tmp_path, capsys, content, reason, one_error_line):
    recorded = tmp_path / "verdicts.toml"
    recorded.write_text(content)
    with pytest.raises(verdicts.VerdictsError, match=f"{recorded}.*{reason}"):
        verdicts.load_verdicts(recorded)
    with pytest.raises(verdicts.VerdictsError):
        verdicts.record_problems(recorded)  # not blamed on "a number changed"
    assert main(["verdicts", "--out", str(recorded)]) == 2
    line = one_error_line()
    assert str(recorded) in line and reason in line and "a number changed" not in line

def _verdicts_writer(path: str, source: str, rounds: int) -> None:
    from harness.claims import sources as s
    from harness.claims import verdicts as v

    from harness.claims import checks as c

    ev = c.evaluate_source(s.load(source))
    for _ in range(rounds):
        v.write_verdicts([ev], Path(path))

def test_concurrent_verdicts_writers_lose_no_entries(tmp_path):
    """Two processes re-record two sources 10 times each; every round keeps both sources' entries."""
    import multiprocessing as mp

    heads = REPO_ROOT / "fixtures" / "published" / "joint_ioi_anti_repeat_heads.csv"
    mine = tmp_path / "mine.csv"
    shutil.copy(heads, mine)
    recorded = tmp_path / "verdicts.toml"
    recorded.write_text(verdicts.render([], {}))
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_verdicts_writer, args=(str(recorded), name, 10)) for name in ("published", f"file:{mine}")]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    keys = set(verdicts.load_verdicts(recorded))
    assert any("[published-" in k for k in keys) and any(f"[file:{mine}-" in k for k in keys)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith("tmp")]

def test_a_failed_verdicts_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    import harness.files as files

    recorded = tmp_path / "verdicts.toml"
    shutil.copy(verdicts.VERDICTS_FILE, recorded)
    before = recorded.read_text()

    def full_disk(fd):
        raise OSError(27, "File too large")

    monkeypatch.setattr(files.os, "fsync", full_disk)  # the write fails after the temporary file was filled
    with pytest.raises(OSError, match="File too large"):
        verdicts.write_verdicts([checks.evaluate_source(sources.load("published"))], recorded)
    assert recorded.read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith("tmp")]

def test_verdicts_of_a_file_source_do_not_make_later_runs_red(tmp_path):
    recorded = tmp_path / "verdicts.toml"
    text = verdicts.VERDICTS_FILE.read_text()
    recorded.write_text(text + '\n["P2[file:/some/where.csv-mfr]"]\nverdict = "not reproduced"\nmeasured = "m"\nthreshold = "t"\n')
    assert verdicts.record_problems(recorded) == verdicts.record_problems(verdicts.VERDICTS_FILE) == []

def test_broken_settings_files_are_a_pytest_usage_error_not_a_traceback(tmp_path, monkeypatch):
    from harness import pytest_plugin

    bad = tmp_path / "thresholds.toml"
    bad.write_text("[transfer\n")
    real_load = thresholds.load
    monkeypatch.setattr(thresholds, "load", lambda: real_load(bad))
    with pytest.raises(pytest.UsageError, match=f"{bad}: not valid TOML"):
        pytest_plugin._check_settings_files()
    monkeypatch.undo()
    empty = tmp_path / "verdicts.toml"
    empty.write_text("")
    monkeypatch.setattr(verdicts, "VERDICTS_FILE", empty)
    monkeypatch.setattr(verdicts.load_file, "__defaults__", (empty,))
    with pytest.raises(pytest.UsageError, match="is empty"):
        pytest_plugin._check_settings_files()

def test_an_unwritable_claims_report_is_a_usage_error_before_the_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "claims/test_claims.py", "--collect-only", "-q",
         "--claims-report", str(blocker / "r.md")], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 4, result.stdout[-1000:] + result.stderr[-1000:]
    assert f"--claims-report {blocker / 'r.md'}: cannot write there" in result.stderr and "Traceback" not in result.stderr

def test_model_names_from_a_file_are_escaped_and_padded_names_refused(tmp_path, capsys, one_error_line):
    heads = REPO_ROOT / "fixtures" / "published" / "joint_ioi_anti_repeat_heads.csv"
    lines = heads.read_text().splitlines()
    header = lines[0].split(",")
    column = header.index("model")
    row = lines[1].split(",")
    row[column] = '"evil\nerror: forged line"'
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    assert main(["audit", "--source", f"file:{bad}"]) == 2
    err = capsys.readouterr().err
    assert "\nerror: forged line" not in err and "evil\\nerror: forged line" in err
    row[column] = " pythia-70m "
    bad.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    assert main(["audit", "--source", f"file:{bad}"]) == 2
    assert "line 2: model name ' pythia-70m ' has leading or trailing spaces" in one_error_line()

@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_a_directory_fifo_or_device_is_not_reported_as_missing(tmp_path, capsys, kind, one_error_line):
    path = {"directory": tmp_path, "fifo": tmp_path / "pipe", "device": Path("/dev/zero")}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    assert main(["transfer", "--source", f"file:{path}"]) == 2
    line = one_error_line()
    assert "no such file" not in line and ("directory" in line if kind == "directory" else "not a regular file" in line)

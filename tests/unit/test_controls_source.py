"""The built-in controls design as a gate source, and the faithfulness plan of a method whose zoo tables
are partial. No model loaded."""

from __future__ import annotations

import pytest

from harness.claims import sources
from harness.claims import faithfulness_runs as faith
from harness.data import designs

pytestmark = pytest.mark.unit


def test_the_controls_design_is_a_built_in_source_and_its_own_file_is_accepted_by_design():
    assert "controls:mean" in sources.all_sources() and sources.design_of("controls:mean").name == "controls"
    # `--design claims/designs/controls.toml` (as the scan commands in docs/controls.md give it) names the
    # built-in design: it adds nothing and is no name clash
    assert sources.use_design(designs.builtin("controls").path) == ("controls:mean",)


def test_a_base_without_a_table_under_the_method_maps_no_set_and_says_so(monkeypatch, capsys):
    def table(model, method, design=None):
        raise LookupError(f"{model}: no committed {method}-ablation zoo table")

    monkeypatch.setattr(faith, "_zoo_table", table)
    assert faith.mapped_sets("gemma-3-270m", "counterfactual", 20) == []
    assert "no mapped sets" in capsys.readouterr().err

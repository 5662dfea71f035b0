"""Known-answer controls load and scan like any model (issue 28): a design derives them from a seeded
tiny Llama twin by a named transform; the harness scans them from their derived weights on the base's
run spec (no special case anywhere), and their head tables are the base's, moved by the true map."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from harness.data import designs
from harness.models import registry, transforms
from harness.runs.recompute import design_run, task_scores

pytestmark = pytest.mark.integration

TWIN = (
    'family = "twin"\narchitecture = "LlamaForCausalLM"\ntokenizer = "gguf:smollm2-135m"\nn_prompts = 12\n'
    'hf_config = { model_type = "llama", hidden_size = 48, num_hidden_layers = 3, num_attention_heads = 6, '
    "num_key_value_heads = 2, intermediate_size = 128, vocab_size = 49152, max_position_embeddings = 256, "
    "initializer_range = 0.5, tie_word_embeddings = true, bos_token_id = 1, eos_token_id = 2 }\n"
)
DESIGN = f"""
name = "ctl"
[run]
style = "zoo"
tasks = ["ioi"]
[models.ctl-twin]
{TWIN}
[models]
"ctl-twin~permute" = {{ derive = "ctl-twin", transform = "permute-heads", seed = 3 }}
"ctl-twin~insert" = {{ derive = "ctl-twin", transform = "insert-identity", at = [1, 3] }}
"ctl-twin~knockout" = {{ derive = "ctl-twin", transform = "knockout", heads = ["1.2", "2.5"] }}
"ctl-twin~prompts" = {{ derive = "ctl-twin", transform = "none", prompt_seed = 1 }}
[[pairs]]
base = "ctl-twin"
target = "ctl-twin~permute"
[[pairs]]
base = "ctl-twin"
target = "ctl-twin~insert"
[[pairs]]
base = "ctl-twin"
target = "ctl-twin~knockout"
[[pairs]]
base = "ctl-twin"
target = "ctl-twin~prompts"
"""


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    path = tmp_path_factory.mktemp("controls") / "ctl.toml"
    path.write_text(DESIGN)
    return designs.load(path)


def _scores(design, model: str) -> pd.DataFrame:
    table, _ = task_scores(registry.get(model), "ioi", design_run(design, model, "mean"), device="cpu", progress=False)
    return table.set_index(["layer", "head"])["delta"]


def test_a_control_is_a_design_entry_on_its_bases_run_spec(design):
    spec = registry.get("ctl-twin~insert")
    assert (spec.n_layers, spec.n_heads, spec.family, spec.source) == (5, 6, "twin", "derived")
    assert spec.derive == registry.Derivation(registry.get("ctl-twin"), "insert-identity", (("at", (1, 3)),))
    base_run = design_run(design, "ctl-twin", "mean")
    for control in ("ctl-twin~permute", "ctl-twin~insert", "ctl-twin~knockout"):
        assert design_run(design, control, "mean") == base_run  # the twin's weights, 12 prompts, the same draw
    assert design_run(design, "ctl-twin~prompts", "mean").seed == 1 and base_run.seed == 0
    assert design.kind(("ctl-twin", "ctl-twin~permute")) == "within"


@pytest.mark.usefixtures("tmp_cache")
def test_controls_scan_to_the_bases_table_moved_by_the_true_map(design, monkeypatch):
    base = _scores(design, "ctl-twin")
    assert base.abs().max() > 1e-2  # heads matter in this twin, so equalities below mean something
    geometry = (3, 6, 2)
    for control in ("ctl-twin~permute", "ctl-twin~insert"):  # the same function: every delta where the map puts it
        derive = registry.get(control).derive
        truth = transforms.true_map(derive.transform, derive.params, geometry)
        scores = _scores(design, control)
        targets = list(zip(truth["tgt_layer"].astype(int), truth["tgt_head"].astype(int)))
        np.testing.assert_allclose(scores.loc[targets].to_numpy(), base.loc[list(zip(truth["layer"], truth["head"]))].to_numpy(),
                                   atol=1e-4)
        assert np.abs(scores.drop(index=targets).to_numpy()).max(initial=0.0) < 1e-6  # inert blocks' heads: no effect
    knocked = _scores(design, "ctl-twin~knockout")  # another function: only the knocked-out heads are known
    assert knocked.loc[[(1, 2), (2, 5)]].abs().max() < 1e-6 and knocked.drop(index=[(1, 2), (2, 5)]).abs().min() > 0
    prompts = _scores(design, "ctl-twin~prompts")
    assert not np.allclose(prompts.to_numpy(), base.to_numpy(), atol=1e-4)  # another draw, other numbers
    # `python -m harness controls` reads these stored tables and scores each control against its true map
    from harness.claims import sources, thresholds
    from harness.report import controls as report

    monkeypatch.setattr(sources, "_USER_DESIGNS", {})
    monkeypatch.setattr(sources, "_USER_SOURCES", [])
    assert "ctl:mean" in sources.use_design(design.path)
    summaries, checks, _ = report.evaluate(sources.load("ctl:mean", compute=False), thresholds.load())
    by = summaries["ctl-twin"]
    assert set(by) == {"ctl-twin~permute", "ctl-twin~insert", "ctl-twin~knockout", "ctl-twin~prompts"}
    from harness.analysis.transfer import transfer_heads
    from harness.runs.zoo import zoo_head_table

    table, _ = zoo_head_table("mean", design=design)
    self_lost = transfer_heads(table, "ctl-twin", "ctl-twin", **thresholds.load().transfer.kwargs())["lost"].mean()
    # under the true map a permuted twin loses exactly what the base loses against itself (18 heads, K = 20:
    # the twin's weaker IOI-like heads count too)
    assert by["ctl-twin~permute"]["true_lost"] == pytest.approx(self_lost) and by["ctl-twin~permute"]["spearman"] > 0.999
    assert by["ctl-twin~permute"]["index_acc"] == 0.0 and by["ctl-twin~insert"]["inert_max_abs"] < 1e-6
    assert by["ctl-twin~knockout"]["gone_max_abs"] < 1e-6
    # the command prints the gate's own K checks, outcomes decided by the verdict rules
    got = {(c.claim, c.variant): c for c in checks}
    assert {"K1", "K3", "K5", "K6", "K7", "K8"} <= {claim for claim, _ in got}
    assert got[("K5", "ctl-twin~permute")].verdict == "reproduced"


def test_a_bad_control_entry_is_one_line(tmp_path):
    cases = {
        '"x" = { derive = "nope", transform = "none" }': "derive = 'nope' is no registry model",
        '"x" = { derive = "smollm2-135m" }': "needs transform = one of none, permute-heads",
        '"x" = { derive = "smollm2-135m", transform = "knockout", heads = ["30.0"] }': "outside 30 layers x 9 heads",
        '"x" = { derive = "smollm2-135m", transform = "permute-heads" }': "missing seed",
        '"x" = { derive = "smollm2-135m", transform = "none", prompt_seed = -1 }': r"prompt_seed = -1 must be in \[0, 2\*\*32\)",
    }
    for i, (entry, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.toml"
        path.write_text(textwrap.dedent(f"""
            name = "bad"
            [models]
            "smollm2-135m" = {{}}
            {entry.replace('"x"', f'"bad-{i}"')}
            [[pairs]]
            base = "smollm2-135m"
            target = "bad-{i}"
        """))
        with pytest.raises(designs.DesignError, match=message) as err:
            designs.load(path)
        assert "\n" not in str(err.value) and f"bad-{i}" in str(err.value)



@pytest.mark.usefixtures("tmp_cache")
def test_the_roles_command_knows_a_designs_controls(capsys):
    """`python -m harness roles --design FILE --model CONTROL` knows the design's controls (their role tables
    are computed from the derived weights with --compute, a heavy job left to the scan queue)."""
    from harness.cli.main import main

    controls_toml = str(designs.DESIGNS_DIR / "controls.toml")
    assert main(["roles", "--design", controls_toml, "--model", "gemma-3-270m~permute", "--role-seed", "1"]) == 2
    err = capsys.readouterr().err
    assert "no role table of gemma-3-270m~permute is stored" in err and "unknown model" not in err
    assert main(["roles", "--design", controls_toml, "--model", "gemma-3-270m", "--role-seed", "-1"]) == 2
    assert "--role-seed must be >= 0" in capsys.readouterr().err

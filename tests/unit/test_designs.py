"""Pair designs as files (harness/data/designs.py): the shipped seed and zoo designs, and every way a
design file can be wrong ending in one line that names the file and the entry (exit 2 from the CLI)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.claims import checks, sources
from harness.cli.main import main
from harness.data import designs
from harness.scoring.methods import GATE_METHODS
from harness.data.designs import DesignError

pytestmark = pytest.mark.unit


def test_shipped_designs_are_the_seed_and_the_zoo():
    seed, zoo = designs.builtin("seed"), designs.builtin("zoo")
    assert len(seed.pairs) == 6 and len(seed.within) == 3 and len(seed.cross) == 3
    assert seed.ladders == {"pythia": ("pythia-70m", "pythia-160m", "pythia-410m", "pythia-1b")}
    assert zoo.within == (("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"),) and len(zoo.cross) == 3 and not zoo.ladders
    qwen = "qwen2.5-coder-1.5b"
    assert zoo.n_prompts_of(qwen, "mean") == zoo.n_prompts_of(qwen, "zero") == 200 and zoo.run_of(qwen)["dtype"] == "bfloat16"
    assert zoo.n_prompts_of(qwen, "mean", "requant:Q4_0") == zoo.n_prompts_of(qwen, "zero", "requant:Q4_0") == 64  # the weights floor
    assert zoo.run_of("gemma-3-270m") == {"style": "zoo", "n_prompts": 200, "tasks": ("ioi",), "dtype": "float32", "weights": "pretrained"}


GOOD = """
name = "mine"
[run]
style = "wang"
[models]
"pythia-70m" = {}
"pythia-160m" = {}
"pythia-410m" = {}
[[pairs]]
base = "pythia-70m"
target = "pythia-160m"
[[pairs]]
base = "pythia-160m"
target = "pythia-410m"
[ladders]
small = ["pythia-70m", "pythia-160m", "pythia-410m"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "design.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_users_ladder_drives_w2(tmp_path):
    """W2 walks the design's own ladder (it read the Pythia constant before): a design whose ladder is
    70m -> 160m -> 410m gives W2 the two steps of that ladder, on the published tables."""
    design = designs.load(_write(tmp_path, GOOD))
    assert design.ladder_pairs == {"small": (("pythia-70m", "pythia-160m"), ("pythia-160m", "pythia-410m"))}
    from harness.data import published

    table, _ = published.load_heads()
    ev = checks.evaluate(table, "published", design=design)
    w2 = ev.checks[("W2", "lost")]
    assert w2.measured == "frac_lost along the ladder = 0.70 -> 0.85"  # the seed's ladder has a third step (-> 1.00)
    assert ("P3", "not_applicable") in ev.unavailable  # 410m -> 1b is not a pair of this design


@pytest.mark.parametrize(
    "edit, message",
    [
        (('"pythia-410m" = {}', '"nope-7b" = {}'), "models.'nope-7b': not in the registry"),
        (('target = "pythia-410m"', 'target = "gpt2"'), "pairs #2: model 'gpt2' is not in the design's [models]"),
        (('small = ["pythia-70m", "pythia-160m", "pythia-410m"]', 'small = ["pythia-70m"]'), "ladders.small: a ladder needs at least two"),
        (('base = "pythia-160m"\ntarget = "pythia-410m"', 'base = "pythia-70m"\ntarget = "pythia-160m"'), "pairs #2: duplicate pair pythia-70m -> pythia-160m"),
        (('"pythia-410m" = {}', '"ckpt" = { local = "no/such/dir", family = "mine" }'), "models.'ckpt': "),
        (('[run]\nstyle = "wang"', '[run]\nstyle = "shakespeare"'), "run.style = 'shakespeare' must be one of"),
        (('target = "pythia-160m"\n', 'target = "pythia-160m"\nkind = "cross"\n'), "kind 'cross' but the families are pythia and pythia"),
        (('name = "mine"', 'name = "zoo"\nextra = 1'), "unknown key extra"),
        (('"pythia-410m" = {}', '"pythia-410m" = { n_prompts = { mean = 1 } }'), "models.pythia-410m.n_prompts.mean = 1 must be in [2, 1000000]"),
        (('"pythia-410m" = {}', '"pythia-410m" = { n_prompts = {} }'), "models.pythia-410m.n_prompts = {} must be int in [2, 1000000] or a non-empty table of int in [2, 1000000]"),
        (('"pythia-410m" = {}', '"pythia-410m" = { n_prompts = "many" }'), "models.pythia-410m.n_prompts = 'many' must be int in [2, 1000000] or a non-empty table of int in [2, 1000000]"),
        (('"pythia-410m" = {}', '"pythia-410m" = { weights_floor_n_prompts = 1 }'), "models.pythia-410m.weights_floor_n_prompts = 1 must be in [2, 1000000]"),
    ],
)
def test_a_bad_design_is_one_line_naming_the_file_and_the_entry(tmp_path, capsys, edit, message):
    old, new = edit
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(DesignError) as err:
        designs.load(path)
    text = str(err.value)
    assert "\n" not in text and str(path) in text and message in text
    assert main(["transfer", "--design", str(path)]) == 2
    err_line = capsys.readouterr().err.strip().splitlines()
    assert len(err_line) == 1 and err_line[0].startswith("error: design file")


def test_a_local_directory_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "ckpt").mkdir()
    path = _write(tmp_path, GOOD.replace('"pythia-410m" = {}', '"ckpt" = { local = "ckpt", family = "mine" }'))
    with pytest.raises(DesignError, match=r"ckpt is not a Hugging Face model directory \(config.json"):
        designs.load(path)


def test_a_gguf_file_whose_sha256_differs_is_refused(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"GGUF not really")
    entry = f'"q4" = {{ gguf = "m.gguf", sha256 = "{"0" * 64}", family = "mine", config_from = "pythia-70m" }}'
    path = _write(tmp_path, GOOD.replace('"pythia-410m" = {}', entry))
    with pytest.raises(DesignError, match=r"m.gguf has sha256 [0-9a-f]{64}, not the pinned 0{64}"):
        designs.load(path)


def test_a_design_adds_its_sources_and_a_source_names_its_design(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_USER_SOURCES", [])
    monkeypatch.setattr(sources, "_USER_DESIGNS", {})
    path = _write(tmp_path, GOOD.replace('name = "mine"', 'name = "mine2"'))
    added = sources.use_design(path)
    assert added == tuple(f"mine2:{m}" for m in GATE_METHODS)  # [run] methods default: the gate's and set(added) <= set(sources.all_sources())
    assert sources.design_of("mine2:zero").path == path.resolve()
    assert sources.design_of("zoo:mean").name == "zoo" and sources.design_of("published").name == "seed"
    assert checks.variants("W2", "mine2:mean") == ("missing_table", "missing_geometry", "lost")
    assert checks.variants("W2", "zoo:mean") == ("not_applicable",)


def test_the_pythia_ladder_example_loads_and_walks_five_rungs(monkeypatch):
    """The README's example for a user with the hub checkpoints: one file, an inline hub model."""
    monkeypatch.setattr(sources, "_USER_SOURCES", [])
    monkeypatch.setattr(sources, "_USER_DESIGNS", {})
    path = designs.DESIGNS_DIR / "examples" / "pythia-ladder.toml"
    added = sources.use_design(path)
    design = sources.design_of(added[0])
    assert len(design.ladder_pairs["pythia"]) == 4 and design.kind(("pythia-410m", "gpt2-medium")) == "cross"
    from harness.models import registry

    assert registry.get("pythia-2.8b").n_heads_total == 32 * 32 and registry.get("pythia-2.8b").source == "hub"
    assert "pythia-2.8b" in {m for p in design.pairs for m in p}
    assert checks.variants("P3", added[0]) != ("not_applicable",)  # 410m -> 1b is a pair of this design


def test_a_prompt_count_per_method_and_for_the_weights_floor(tmp_path):
    """`n_prompts = { mean = 200 }` sets one method's count (the others keep [run]'s); the re-quantised
    twin's tables, and the original's they are compared with, use `weights_floor_n_prompts`; a method the
    registry does not know is refused, one line naming the file and the entry, when a run is made."""
    from harness.runs.recompute import design_run

    text = GOOD.replace('"pythia-410m" = {}', '"pythia-410m" = { n_prompts = { mean = 300 }, weights_floor_n_prompts = 48 }')
    design = designs.load(_write(tmp_path, text))
    assert design.n_prompts_of("pythia-410m", "mean") == 300 and design.n_prompts_of("pythia-410m", "zero") == 200
    assert design.n_prompts_of("pythia-410m", "mean", "requant:Q4_0") == 48 and design.n_prompts_of("pythia-70m", "mean", "requant:Q4_0") == 200
    assert design_run(design, "pythia-410m", "mean").n_prompts == 300
    assert design_run(design, "pythia-410m", "zero").n_prompts == 200
    assert design_run(design, "pythia-410m", "mean", weights="requant:Q4_0").n_prompts == 48
    assert design_run(design, "pythia-410m", "mean", n_prompts=10).n_prompts == 10  # an explicit count wins
    bad = designs.load(_write(tmp_path, text.replace("mean = 300", "maen = 300")))
    with pytest.raises(DesignError, match=r"design file .*models.'pythia-410m': n_prompts names no method maen \(methods: mean"):
        design_run(bad, "pythia-410m", "mean")

"""Snapshot diffs follow any design: `pytest claims/ --claims-design mine.toml` snapshots the per-head
table of every model of the user's design under each of its methods (claims/test_snapshots.py), in
<design dir>/snapshots/<design name>/, and a changed model fails with a diff naming the heads that moved.

The design is two seeded Llama twins (random weights from the config alone, 6 prompts, mean ablation
only): each pytest run below scans at most both twins, in seconds, into a private cache."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import CACHE_ENV, REPO_ROOT

pytestmark = pytest.mark.integration

WAIT_S = 600  # a hung run fails instead of blocking the suite; not a speed assertion


def _twin(layers: int, init: float) -> str:
    return (
        'family = "twin"\narchitecture = "LlamaForCausalLM"\ntokenizer = "gguf:smollm2-135m"\n'
        f"hf_config = {{ model_type = \"llama\", hidden_size = 32, num_hidden_layers = {layers}, num_attention_heads = 2, "
        "num_key_value_heads = 1, intermediate_size = 64, vocab_size = 49152, max_position_embeddings = 128, "
        f"initializer_range = {init}, tie_word_embeddings = true, bos_token_id = 1, eos_token_id = 2 }}\n"
    )


def _design(big_init: float) -> str:
    return (
        'name = "snaptwins"\n[run]\nstyle = "zoo"\nn_prompts = 6\ntasks = ["ioi", "anti"]\nmethods = ["mean"]\n'
        f"[models.snaptwin-small]\n{_twin(1, 0.5)}[models.snaptwin-big]\n{_twin(2, big_init)}"
        '[[pairs]]\nbase = "snaptwin-small"\ntarget = "snaptwin-big"\n'
    )


def _pytest(design: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, CACHE_ENV: str(cache), "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "pytest", "claims/test_snapshots.py", "-k", "snaptwins", "--claims-design", str(design),
            "-p", "no:xdist", "-p", "no:cacheprovider", "-vv", *extra]
    return subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=WAIT_S)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.ambr"))}


def test_a_user_design_s_head_tables_are_snapshotted_and_a_changed_model_shows_its_heads(tmp_path, tmp_cache):
    committed = _digest(REPO_ROOT / "snapshots" / "claims")
    design = tmp_path / "mine.toml"
    design.write_text(_design(big_init=0.5))

    written = _pytest(design, tmp_cache, "--snapshot-update")
    assert written.returncode == 0, written.stdout + written.stderr
    stored = tmp_path / "snapshots" / "snaptwins" / "test_snapshots.ambr"
    text = stored.read_text()
    for model, layers in (("snaptwin-small", 1), ("snaptwin-big", 2)):
        assert f"[snaptwins-{model}-mean]" in text
        assert all(f"L{layer:02d}H{head:02d} delta_ioi " in text for layer in range(layers) for head in range(2))

    again = _pytest(design, tmp_cache)  # same weights, same prompts: the snapshot holds
    assert again.returncode == 0, again.stdout + again.stderr

    design.write_text(_design(big_init=0.3))  # one model of the design changes
    changed = _pytest(design, tmp_cache)
    out = changed.stdout
    assert changed.returncode == 1, out + changed.stderr
    assert "test_design_head_table_snapshot[snaptwins-snaptwin-big-mean]" in out
    assert "snaptwins-snaptwin-small-mean" not in out.split("short test summary")[-1]  # the unchanged model passes
    assert re.search(r"^E\s+- L0[01]H0[01] delta_ioi [+-]\d\.\d{4} delta_anti .*$", out, re.M), out  # the old head line ...
    assert re.search(r"^E\s+\+ L0[01]H0[01] delta_ioi [+-]\d\.\d{4} delta_anti .*$", out, re.M), out  # ... and the new one
    assert stored.read_text() == text  # a failing run never rewrites the snapshot
    assert _digest(REPO_ROOT / "snapshots" / "claims") == committed  # the built-in snapshots are untouched

"""`python -m harness bench` end to end on an architecture twin of pythia-70m (random weights, no
download; speed numbers mean nothing here): every row and the peak lines are printed, the naive
loop's layer sample is said and scaled, and the exact float32 scan equals the naive loop."""

from __future__ import annotations

import re

import pytest

from harness.cli.main import main

pytestmark = pytest.mark.integration


def test_bench_on_a_twin(capsys):
    argv = ["bench", "--model", "pythia-70m", "--weights", "twin", "--n-prompts", "4", "--layers", "3-5", "--threads", "1",
            "--no-progress", "--peak-seconds", "0.05", "--peak-tokens", "64", "--dtypes", "float32,bfloat16"]  # fmt: skip
    import torch

    threads = torch.get_num_threads()
    assert main(argv) == 0
    # `--threads 1` in-process once left every later test of the session on one thread
    assert torch.get_num_threads() == threads
    out = capsys.readouterr().out
    for row in ("naive        float32", "batched      float32", "attribution  float32", "batched      bfloat16"):
        assert row in out
    assert "tl_patching" not in out  # auto: SmolLM2 only
    assert "timed on 16 of 24 heads (layers 3,5) and scaled x1.50" in out
    assert re.search(r"float32 +\d+\.\d GMAC/s", out) and re.search(r"bfloat16 +\d+\.\d GMAC/s", out)
    exact = re.search(r"batched +float32 .*?(\d\.\d\de-\d\d) .*naive float32", out)
    assert exact and float(exact.group(1)) < 1e-4
    assert re.search(r"batched +bfloat16 .* \d+/20 +\d+\.\d\dx +batched float32", out)


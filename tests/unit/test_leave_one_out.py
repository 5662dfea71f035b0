"""Leave-one-model-out (harness.claims.leave_one_out) on the committed zoo tables: no model loaded."""

from __future__ import annotations

import pytest

from harness.claims import sources
from harness.claims.leave_one_out import GONE, leave_one_out, without
from harness.data import designs

pytestmark = pytest.mark.unit


def test_without_removes_the_model_and_every_pair_it_is_in():
    zoo = designs.builtin("zoo")
    sub = without(zoo, "qwen2.5-coder-0.5b")
    assert "qwen2.5-coder-0.5b" not in sub.models
    assert sub.pairs == (("smollm2-135m", "gemma-3-270m"),) and sub.within == ()
    assert without(designs.builtin("zoo"), "smollm2-135m").pairs == tuple(p for p in zoo.pairs if "smollm2-135m" not in p)


def test_the_zoo_has_one_within_pair_so_x2_x3_are_gone_without_either_qwen():
    frame = leave_one_out(sources.load("zoo:mean")).set_index("check")
    pooled = [c for c in frame.index if c.startswith(("X2", "X3"))]
    assert pooled and (frame.loc[pooled, "without qwen2.5-coder-1.5b"] == GONE).all()
    assert (frame.loc[pooled, "without qwen2.5-coder-0.5b"] == GONE).all()
    # dropping a cross-only model keeps the comparison computable, and no row survives the loss of its within pair
    assert (frame.loc[pooled, "without smollm2-135m"] != GONE).all() and not frame.loc[pooled, "survives"].any()

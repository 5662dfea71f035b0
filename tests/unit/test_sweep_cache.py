"""A source's robustness sweep is kept under the content key of its inputs: read back on unchanged inputs
(no re-evaluation), equal to the computed one, recomputed when the table, a setting, the design or the
code changes, never read from a damaged or linked entry."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.claims import grid as grid_mod
from harness.claims import robustness, sources, sweep_cache, thresholds
from harness.data import published

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def table():
    return published.load_heads()[0]


@pytest.fixture(scope="module")
def choices():
    """A small grid (k and ties: 9 universes) keeps these tests quick; the cache is the same for any."""
    full = grid_mod.load().table()
    return {name: full[name] for name in ("k", "ties")}


def _no_evaluation(*a, **k):
    raise AssertionError("evaluated although the sweep was stored under this key")


def test_unchanged_inputs_read_the_stored_sweep_which_equals_the_computed_one(tmp_cache, table, choices, monkeypatch):
    computed = robustness.sweep(table, "published", choices, cached=False)
    first = robustness.sweep(table, "published", choices)
    assert len(list((tmp_cache / "sweeps").glob("*.json"))) == 1
    monkeypatch.setattr(robustness.claims, "evaluate", _no_evaluation)
    again = robustness.sweep(table, "published", choices)
    pd.testing.assert_frame_equal(again, computed)
    pd.testing.assert_frame_equal(first, computed)
    with pytest.raises(AssertionError, match="evaluated although"):  # uncached: it evaluates
        robustness.sweep(table, "published", choices, cached=False)


def test_a_changed_table_setting_design_or_code_is_a_new_key(table, choices):
    cfg, design = thresholds.load(), sources.design_of("published")
    key = sweep_cache.content_key("published", table, None, cfg, choices, design)
    assert sweep_cache.content_key("published", table.copy(), None, cfg, choices, design) == key
    changed = table.copy()
    changed.loc[changed.index[0], "delta_ioi"] += 1e-9
    assert sweep_cache.content_key("published", changed, None, cfg, choices, design) != key
    assert sweep_cache.content_key("published", table, None, cfg.with_transfer(k=10), choices, design) != key
    assert sweep_cache.content_key("published", table, None, cfg, {"k": choices["k"]}, design) != key
    assert sweep_cache.content_key("published", table, None, cfg, choices, sources.design_of("zoo:mean")) != key
    assert sweep_cache.content_key("published", table, {"roles": {"m": table.head(3)}}, cfg, choices, design) != key
    sweep_cache._CODE_DIGEST = "another version of the code"
    try:
        assert sweep_cache.content_key("published", table, None, cfg, choices, design) != key
    finally:
        sweep_cache._CODE_DIGEST = None


@pytest.mark.parametrize("damage", ["not json", '[{"k": 10}]', '{"holds": true}', '[{"holds": "yes"}]'])
def test_a_damaged_entry_is_recomputed_and_replaced(tmp_cache, table, choices, damage):
    first = robustness.sweep(table, "published", choices)
    (entry,) = (tmp_cache / "sweeps").glob("*.json")
    entry.write_text(damage)
    assert sweep_cache.read(entry.stem) is None
    pd.testing.assert_frame_equal(robustness.sweep(table, "published", choices), first)
    pd.testing.assert_frame_equal(sweep_cache.read(entry.stem), first)


def test_a_linked_entry_is_neither_read_nor_written_through(tmp_cache, table, choices, tmp_path):
    first = robustness.sweep(table, "published", choices)
    (entry,) = (tmp_cache / "sweeps").glob("*.json")
    planted = tmp_path / "planted.json"
    planted.write_text(entry.read_text().replace("true", "false"))
    entry.unlink()
    entry.symlink_to(planted)
    assert sweep_cache.read(entry.stem) is None
    pd.testing.assert_frame_equal(robustness.sweep(table, "published", choices), first)
    assert "true" not in planted.read_text()  # the link's target was not overwritten

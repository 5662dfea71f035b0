"""The robustness notes are kept under the content key of their inputs: read back on unchanged inputs
(no sweep), recomputed when the table, a setting or an entry changes, never read from a damaged entry."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from harness.claims import checks as claims
from harness.claims import grid as grid_mod
from harness.claims import robustness, sweep_cache, thresholds
from harness.data import published

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def table():
    return published.load_heads()[0]


def _no_sweep(*a, **k):
    raise AssertionError("swept although the notes were stored under this key")


@pytest.fixture
def counted(monkeypatch):
    """A stand-in for the sweep (one summary row), counting its calls."""
    calls = []
    summary = pd.DataFrame([{"claim": "P1", "source": "published", "variant": "mfr", "robustness": "robust", "share_held": 0.97}])

    def sweep(evaluations):
        calls.append(1)
        return SimpleNamespace(summary=summary)

    monkeypatch.setattr(robustness, "sweep_evaluations", sweep)
    return calls


def test_unchanged_inputs_read_the_stored_notes_without_sweeping(tmp_cache, table, monkeypatch):
    first = robustness.notes_for([claims.evaluate(table, "published")])  # the real sweep, once
    assert first and len(list((tmp_cache / "sweeps").glob("*.json"))) == 1
    monkeypatch.setattr(robustness, "sweep_evaluations", _no_sweep)
    assert robustness.notes_for([claims.evaluate(table, "published")]) == first
    with pytest.raises(AssertionError, match="swept"):  # uncached: it sweeps
        robustness.notes_for([claims.evaluate(table, "published")], cached=False)


def test_a_changed_table_setting_or_code_is_a_new_key(table):
    ev = claims.evaluate(table, "published")
    cfg, grid = thresholds.load(), grid_mod.load()
    key = sweep_cache.content_key([ev], cfg, grid)
    assert sweep_cache.content_key([claims.evaluate(table, "published")], cfg, grid) == key
    changed = table.copy()
    changed.loc[changed.index[0], "delta_ioi"] += 1e-9
    assert sweep_cache.content_key([claims.evaluate(changed, "published")], cfg, grid) != key
    assert sweep_cache.content_key([ev], cfg.with_transfer(k=10), grid) != key
    sweep_cache._CODE_DIGEST = "another version of the code"
    try:
        assert sweep_cache.content_key([ev], cfg, grid) != key
    finally:
        sweep_cache._CODE_DIGEST = None


@pytest.mark.parametrize("damage", ["not json", '{"P1[published-mfr]": 3}', "[1, 2]"])
def test_a_damaged_entry_is_recomputed_and_replaced(tmp_cache, table, damage, counted):
    first = robustness.notes_for([claims.evaluate(table, "published")])
    (entry,) = (tmp_cache / "sweeps").glob("*.json")
    entry.write_text(damage)
    assert robustness.notes_for([claims.evaluate(table, "published")]) == first == {"P1[published-mfr]": "robust 0.97"}
    assert sweep_cache.read(entry.stem) == first and len(counted) == 2


def test_a_linked_entry_is_not_read(tmp_cache, table, tmp_path, counted):
    first = robustness.notes_for([claims.evaluate(table, "published")])
    (entry,) = (tmp_cache / "sweeps").glob("*.json")
    elsewhere = tmp_path / "planted.json"
    elsewhere.write_text('{"P1[published-mfr]": "fragile 0.10"}')
    entry.unlink()
    entry.symlink_to(elsewhere)
    assert sweep_cache.read(entry.stem) is None
    with pytest.raises(OSError):  # the write refuses to follow the link out of the cache
        sweep_cache.atomic_write_text(sweep_cache.contained(entry, tmp_cache / "sweeps"), "{}")
    assert robustness.notes_for([claims.evaluate(table, "published")]) == first

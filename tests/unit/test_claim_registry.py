"""Every registered claim is in the gate: the ids pytest collects from claims/test_claims.py are
exactly the registry's checks on every source, every check `evaluate` produces (or reports
unavailable) is one of them, and the collected list is snapshotted, so removing a claim's
registration (or a variant) shows as a red snapshot diff, never as a silent drop."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.claims import checks
from harness.claims.registry import REGISTRY
from harness.claims.sources import all_sources
from harness.data import published
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def collected() -> set[str]:
    """The claim check ids pytest collects (CLAIM[source-variant]), from a real collection run."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "claims/test_claims.py"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout
    ids = set()
    for line in out.splitlines():
        if line.startswith("claims/test_claims.py::test_"):
            name, _, params = line.partition("::test_")[2].partition("[")
            ids.add(f"{name}[{params}")
    return ids


def test_collected_ids_are_the_registry_checks_on_every_source(collected):
    expected = {checks.check_key(c, s, v) for c in REGISTRY for s in all_sources() for v in checks.variants(c, s)}
    assert collected == expected
    assert {key.partition("[")[0] for key in collected} == set(REGISTRY)  # F1 included


def test_every_evaluated_check_is_collected(collected):
    table, _ = published.load_heads()
    ev = checks.evaluate(table, "published")
    produced = {checks.check_key(c, "published", v) for c, v in (*ev.checks, *ev.unavailable)}
    assert produced <= collected
    assert produced == {k for k in collected if k.partition("[")[2].startswith("published-")}


def test_collected_claim_ids_snapshot(collected, snapshot):
    """The gate's list of checks; a claim added or removed is a reviewed diff (--snapshot-update)."""
    assert "\n".join(sorted(collected)) == snapshot

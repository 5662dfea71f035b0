"""The claim tests, generated from the claim registry (harness/claims/registry.py): one test function
per registered claim, test_<ID>, parametrized over every source and the claim's variants on it.

Test ids read `test_P1[published-mfr]`: claim, source, variant; the same key names the check in
claims/verdicts.toml and in the verdict table. Nothing here is written by hand per claim, so a claim
cannot be evaluated without being in the gate (tests/unit/test_claim_registry.py checks it).
Thresholds: claims/thresholds.toml.
"""

import pytest

from harness.claims.checks import variants
from harness.claims.registry import REGISTRY
from harness.claims.sources import all_sources


def cases(claim: str) -> list:
    """The claim's checks over every source: the built-in ones and the file:PATH or design sources given
    on the command line."""
    return [pytest.param(claim, source, v, id=f"{source}-{v}") for source in all_sources() for v in variants(claim, source)]


def _claim_test(claim: str):
    @pytest.mark.parametrize("claim,source,variant", cases(claim))
    def test(check_claim, claim, source, variant):
        check_claim(claim, source, variant)

    test.__name__ = test.__qualname__ = f"test_{claim}"
    test.__doc__ = f"{claim}: {REGISTRY[claim].statement}."
    return test


for _claim in REGISTRY:
    globals()[f"test_{_claim}"] = _claim_test(_claim)

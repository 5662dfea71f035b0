"""One parametrized test per claim of CLAIMS.md, over sources and variants.

Test ids read `test_P1[published-mfr]`: claim, source, variant; the same key names the check in
claims/verdicts.toml and in the verdict table. Thresholds: claims/thresholds.toml.
"""

import pytest

from harness.claims.checks import variants
from harness.claims.sources import all_sources


def cases(claim: str) -> list:
    """The claim's checks over every source: the built-in ones and a file:PATH given to --claims-sources."""
    return [pytest.param(claim, source, v, id=f"{source}-{v}") for source in all_sources() for v in variants(claim, source)]


@pytest.mark.parametrize("claim,source,variant", cases("P1"))
def test_P1(check_claim, claim, source, variant):
    """pythia 70m -> 160m: mean_frac_rank ~ 0.50, moderate fraction missing."""
    check_claim(claim, source, variant)


@pytest.mark.parametrize("claim,source,variant", cases("P2"))
def test_P2(check_claim, claim, source, variant):
    """pythia 160m -> 410m: mean_frac_rank ~ 0.44, substantial missing fraction."""
    check_claim(claim, source, variant)


@pytest.mark.parametrize("claim,source,variant", cases("P3"))
def test_P3(check_claim, claim, source, variant):
    """pythia 410m -> 1b: mean_frac_rank ~ 0.76, many heads missing or weak in 1B."""
    check_claim(claim, source, variant)


@pytest.mark.parametrize("claim,source,variant", cases("P4"))
def test_P4(check_claim, claim, source, variant):
    """pythia 160m -> gpt-neo-125M: mean_frac_rank ~ 0.54, many heads missing."""
    check_claim(claim, source, variant)


@pytest.mark.parametrize("claim,source,variant", cases("P5"))
def test_P5(check_claim, claim, source, variant):
    """pythia 160m -> opt-125m: mean_frac_rank ~ 0.70, most heads missing."""
    check_claim(claim, source, variant)


@pytest.mark.parametrize("claim,source,variant", cases("P6"))
def test_P6(check_claim, claim, source, variant):
    """pythia 410m -> gpt2-medium: mean_frac_rank ~ 0.57, most heads missing."""
    check_claim(claim, source, variant)


@pytest.mark.parametrize("claim,source,variant", cases("W1"))
def test_W1(check_claim, claim, source, variant):
    """Within one ladder only a subset of IOI-like heads stay strong at the same index."""
    check_claim(claim, source, variant)


@pytest.mark.parametrize("claim,source,variant", cases("W2"))
def test_W2(check_claim, claim, source, variant):
    """The fraction of lost indices grows with size along 70m -> 160m -> 410m -> 1b."""
    check_claim(claim, source, variant)


@pytest.mark.parametrize("claim,source,variant", cases("X1"))
def test_X1(check_claim, claim, source, variant):
    """Pythia IOI heads do not generally stay strong at the same coordinates in other families."""
    check_claim(claim, source, variant)


@pytest.mark.parametrize("claim,source,variant", cases("X2"))
def test_X2(check_claim, claim, source, variant):
    """The missing fraction is substantially worse across families than within."""
    check_claim(claim, source, variant)


@pytest.mark.parametrize("claim,source,variant", cases("X3"))
def test_X3(check_claim, claim, source, variant):
    """Rank degradation is substantially worse across families than within."""
    check_claim(claim, source, variant)


@pytest.mark.parametrize("claim,source,variant", cases("T1"))
def test_T1(check_claim, claim, source, variant):
    """IOI circuits are not index-stable even within a single scaling ladder."""
    check_claim(claim, source, variant)


@pytest.mark.parametrize("claim,source,variant", cases("T2"))
def test_T2(check_claim, claim, source, variant):
    """Across families an IOI head at a given index is often absent or weakly IOI-like."""
    check_claim(claim, source, variant)


@pytest.mark.parametrize("claim,source,variant", cases("T3"))
def test_T3(check_claim, claim, source, variant):
    """Head-level results do not transfer robustly across architectures and training pipelines."""
    check_claim(claim, source, variant)

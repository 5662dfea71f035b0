"""The claim registry: every claim the suite checks, declared once.

A `Claim` is its id, its statement (the only place its wording lives), the design pieces and source
extras it needs, its variants (static, from the design, so pytest parametrizes at collection) and the
function that evaluates it. The tests of claims/test_claims.py, the verdict table, the report, the
verdict record and the robustness sweep are all generated from `REGISTRY`: a claim cannot be evaluated
without being in the gate. Adding a claim = one entry here + its thresholds in claims/thresholds.toml.

Needs (`Claim.needs`), each checked before a claim is evaluated:
- "within", "cross", "pairs": the design has such pairs and the source has tables for their models;
- "ladder": the design has at least one ladder (its consecutive pairs must be design pairs);
- "seed_pair": the claim's own pair (`Claim.pair`) is one of the design's pairs;
- "floors": the source has each model's noise floor (per-prompt scores);
- any other name: the source provides it in `Source.extras` (e.g. "roles").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.claims import control_claims as kc
from harness.claims import role_claims
from harness.claims import instrument
from harness.claims import faithfulness as faith
from harness.claims import seed_claims as seed
from harness.claims.check import Check, Context, pair_label
from harness.data.designs import Design

PAIR_NEEDS = ("pairs", "within", "cross")


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    needs: tuple[str, ...]
    variants: Callable[[Design], tuple[str, ...]]
    evaluate: Callable[[Context], list[Check]]
    pair: tuple[str, str] | None = None  # the one pair a seed pair claim (P1..P6) is about
    # How its evidence becomes an outcome (harness.claims.outcomes.SHAPES), declared once per claim:
    shape: str = "interval"
    # What it presupposes: (check, the source's checks) -> None, or why the premise fails (then the
    # check is "not testable")
    premise: Callable[[Check, dict], str | None] | None = None
    aggregates: str | None = None  # an "all-of" claim: the claim whose checks it reads

    def pairs_needed(self, design: Design) -> tuple[tuple[str, str], ...]:
        """The design pairs whose models the source must have for this claim."""
        out: list[tuple[str, str]] = []
        if "seed_pair" in self.needs and self.pair is not None:
            out.append(self.pair)
        for need in PAIR_NEEDS:
            if need in self.needs:
                out.extend(design.pairs if need == "pairs" else getattr(design, need))
        if "ladder" in self.needs:
            out.extend(seed.ladder_pairs_of(design))
        return tuple(dict.fromkeys(out))


def _per_pair(group: str) -> Callable[[Design], tuple[str, ...]]:
    def variants(design: Design) -> tuple[str, ...]:
        return tuple(pair_label(p) for p in (design.pairs if group == "pairs" else getattr(design, group)))

    return variants


def _fixed(*names: str) -> Callable[[Design], tuple[str, ...]]:
    return lambda design: names


def _pair_claim(claim: str, statement: str) -> Claim:
    base, target = seed.PAIR_CLAIMS[claim][:2]
    return Claim(claim, statement, ("seed_pair",), _fixed(*seed.pair_variants(claim)), seed.pair_check(claim), (base, target),
                 shape="point")


def _base_c1_reproduced(check: Check, checks: dict) -> str | None:
    """C2 / C3 presuppose C1 of the pair's base: its top-K set is a circuit of it (its size-aware top set
    for a size-aware variant, "BASE->TARGET@10%" -> C1[BASE@10%])."""
    pair, share = faith.split_variant(check.variant)
    base = pair.split("->")[0] + (share or "")
    c1 = checks.get(("C1", base))
    if c1 is None:
        return f"premise C1[{check.source}-{base}] (the base's top-K set is a circuit) has no value on this source"
    verdict = c1.outcome or c1.verdict
    if verdict != "reproduced":
        return f"premise C1[{check.source}-{base}] is {verdict} (f = {c1.value:.3f}): the base's set is not shown to be a circuit"
    return None


def _c3_premises(check: Check, checks: dict) -> str | None:
    """C3 presupposes C1 of its base, and a defined transfer efficiency: the target's own top-k set must beat
    the mean of its random k-sets, or no mapped set can be placed between them."""
    failed = _base_c1_reproduced(check, checks)
    if failed is None and check.value != check.value:  # NaN: the efficiency is undefined (faith._c3_check)
        target = faith.split_variant(check.variant)[0].split("->")[1]
        return f"premise: {target}'s own top-k set beats its random sets' mean is not met ({check.measured.split(';')[0]})"
    return failed


_CLAIMS = [
    _pair_claim("P1", "pythia 70m -> 160m: mean_frac_rank ~ 0.50, moderate fraction missing"),
    _pair_claim("P2", "pythia 160m -> 410m: mean_frac_rank ~ 0.44, substantial missing fraction"),
    _pair_claim("P3", "pythia 410m -> 1b: mean_frac_rank ~ 0.76, many heads missing or weak"),
    _pair_claim("P4", "pythia 160m -> gpt-neo-125M: mean_frac_rank ~ 0.54, many heads missing"),
    _pair_claim("P5", "pythia 160m -> opt-125m: mean_frac_rank ~ 0.70, most heads missing"),
    _pair_claim("P6", "pythia 410m -> gpt2-medium: mean_frac_rank ~ 0.57, most heads missing"),
    Claim("W1", "within one ladder only a subset of IOI-like heads stay strong at the same index",
          ("within",), _per_pair("within"), seed.w1),
    Claim("W2", "the fraction of lost indices grows with size along 70m -> 160m -> 410m -> 1b",
          ("ladder",), seed.w2_variants, seed.w2, shape="point"),
    Claim("X1", "Pythia IOI heads do not generally stay strong at the same index in GPT-2, GPT-Neo, OPT",
          ("cross",), _per_pair("cross"), seed.x1),
    Claim("X2", "the missing fraction is substantially worse across families than within",
          ("within", "cross"), _fixed(*seed.MISSING_READINGS), seed.x2, shape="interval+test"),
    Claim("X3", "rank degradation is substantially worse across families than within",
          ("within", "cross"), _fixed(*seed.X3_VARIANTS), seed.x3, shape="interval+test"),
    Claim("T1", "IOI circuits are not index-stable even within one ladder (every W1 pair)",
          ("within", "cross", "pairs"), _fixed("within"), seed.t1, shape="all-of", aggregates="W1"),
    Claim("T2", "across families a head at a given index is often absent or weakly IOI-like (every X1 pair)",
          ("within", "cross", "pairs"), _fixed("cross"), seed.t2, shape="all-of", aggregates="X1"),
    Claim("T3", "head-level results do not transfer robustly (no pair keeps >= 80% of its heads strong)",
          ("within", "cross", "pairs"), _fixed("all_pairs"), seed.t3),
    Claim("F1", "heads a pair 'loses' are lost beyond the noise floors (the pair loses more than either model loses "
          "to itself on other prompts, or to its re-quantised twin)", ("pairs", "floors"), _per_pair("pairs"), seed.f1),
    # issue 17: heads matched by role (harness.analysis.correspondence), not by index
    Claim("M1", "under role+depth matching, cross-family pairs still lose most of the base's heads "
          "(the seed's takeaway 3 at the level of roles)", ("cross", "roles"), _per_pair("cross"), role_claims.m1, premise=instrument.role_matcher_validated),
    Claim("M2", "the role matching has signal: its frac_lost is below the random depth-preserving null (p < 0.05)",
          ("pairs", "roles"), _per_pair("pairs"), role_claims.m2, shape="null", premise=instrument.role_matcher_validated),
    Claim("M3", "within the family, role+depth matching loses clearly fewer heads than index matching "
          "(heads move to other indices while their roles persist)", ("within", "roles"), _per_pair("within"), role_claims.m3, premise=instrument.role_matcher_validated),
    Claim("C1", "each model's top-K heads by single-head |delta| are a faithful circuit of it: f(top-K) with every "
          "other head ablated reaches a threshold and beats random K-sets", (faith.EXTRA,), faith.variants_of("C1"), faith.c1, shape="null"),
    Claim("C2", "the base's top-K set mapped by index into the target beats the target's random K-sets within the "
          "family and does not across families", (faith.EXTRA,), faith.variants_of("C2"), faith.c2, shape="null",
          premise=_base_c1_reproduced),
    Claim("C3", "across families the base's top-K set mapped by role+depth into the target stays below a transfer "
          "efficiency threshold", (faith.EXTRA,), faith.variants_of("C3"), faith.c3, shape="equivalence",
          premise=_c3_premises),
]

# issue 28: the known-answer controls (docs/controls.md; expectations committed before any control was scanned)
_K_STATEMENTS = {
    "K1": "on a control whose heads moved but were not lost (permuted, depth-shifted), index matching reports the circuit as lost",
    "K2": "role+depth matching recovers the permuted and depth-shifted controls (frac_lost within the prompt twin's floor)",
    "K3": "depth matching recovers the depth-shifted control but not the permuted one",
    "K4": "the role matching beats the random depth-preserving null on the permuted control (M2 can reject when the truth is a match)",
    "K5": "the permuted control's single-head deltas are the base's, permuted",
    "K6": "the depth-shifted control's single-head deltas are the base's through the true map; inserted heads read zero",
    "K7": "knocked-out heads are gone: zero deltas, lost at their own index; accuracy and logit difference drop",
    "K8": "resolution: on the prompt twin (same model, other prompts) index matching loses at most 3 of 20 heads",
    "K9": "faithfulness through the map: the base's top 20 mapped into the permuted control by the true map (and by role+depth) "
          "carries the control's own circuit (transfer efficiency ~1)",
}
_CLAIMS += [Claim(k, s, (kc.EXTRA,), kc.variants_of(k), kc.evaluate(k), shape="point") for k, s in _K_STATEMENTS.items()]

REGISTRY: dict[str, Claim] = {claim.id: claim for claim in _CLAIMS}
CLAIM_IDS = tuple(REGISTRY)
SHAPES = {claim.id: claim.shape for claim in _CLAIMS}
PREMISES = {claim.id: claim.premise for claim in _CLAIMS if claim.premise}
AGGREGATES = {claim.id: claim.aggregates for claim in _CLAIMS if claim.aggregates}


def statement(claim: str) -> str:
    return REGISTRY[claim].statement

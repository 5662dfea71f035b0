"""The known-answer controls' verdicts on the role matcher, as the premise of the claims that use it.

M1-M3 read heads matched by role+depth (harness.analysis.correspondence). Their verdicts mean something
only if that matcher finds heads that moved when the truth is known: on the built-in controls
(claims/designs/controls.toml, source `controls:mean`) K2 (role+depth recovers the permuted and
depth-shifted controls) and K4 (it beats the random depth-preserving null on the permuted control).
harness.claims.checks evaluates SOURCE once per process on the committed control tables and hands its
decided K2 / K4 to the premises of every other source with role tables; a failed, inconclusive or
absent K2/K4 makes every M check there not testable, with the K check named. This module imports
nothing of the claims (checks and sources import it).
"""

from __future__ import annotations

from typing import Any

SOURCE = "controls:mean"
PREMISE_CLAIMS = ("K2", "K4")
EXTRA = "instrument"  # an evaluation's extra: (claim, variant) -> decided K2 / K4 check of SOURCE (tests pass their own)


def role_matcher_validated(check: Any, checks: dict) -> str | None:
    """Premise of M1-M3: every K2 / K4 check of the controls is reproduced (None), else why not."""
    found = {key: c for key, c in checks.items() if key[0] in PREMISE_CLAIMS}
    if not found:
        return (f"premise K2/K4[{SOURCE}] (the role matcher recovers heads that moved, on a known answer) has no value: "
                "no known-answer control was evaluated")
    for c in found.values():
        if c.verdict != "reproduced":
            return f"premise {c.key} is {c.verdict} ({c.measured}): the role matcher is not shown to find heads that moved"
    return None

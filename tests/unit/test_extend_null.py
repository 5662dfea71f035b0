"""The faithfulness null grown by doubling until it decides (harness.claims.faithfulness_runs.extend_null),
with the measurement replaced by a stand-in: which draws it asks for and when it stops. No model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.claims import thresholds
from harness.claims import faithfulness_runs as faith

pytestmark = pytest.mark.unit
K = thresholds.load().transfer.k


def results(n_random: int, f_draw) -> pd.DataFrame:
    """Stored results with m = f (full = 1, empty = 0): the top set at f = 0.8, n random draws."""
    rows = [{"model": "m", "method": "mean", "kind": "full", "ranking": "", "k": 100, "draw": 0, "label": "", "heads": "", "m": 1.0},
            {"model": "m", "method": "mean", "kind": "empty", "ranking": "", "k": 0, "draw": 0, "label": "", "heads": "", "m": 0.0},
            {"model": "m", "method": "mean", "kind": "top", "ranking": "abs", "k": K, "draw": 0, "label": "", "heads": "", "m": 0.8}]
    rows += [{"model": "m", "method": "mean", "kind": "random", "ranking": "", "k": K, "draw": i, "label": "", "heads": "",
              "m": f_draw(i)} for i in range(n_random)]
    return pd.DataFrame(rows)


@pytest.fixture
def stand_in(monkeypatch):
    asked = []

    def install(f_draw):
        from harness.runs import faithfulness as runs

        monkeypatch.setattr(runs, "stored", lambda model, method: (results(30, f_draw), {}))
        monkeypatch.setattr(runs, "run_for", lambda *a, **k: None)
        monkeypatch.setattr(faith, "plan", lambda model, method, cfg, n_random=None: n_random)

        def measure(model, run, n_random, device, loaded):
            asked.append(n_random)
            return results(n_random, f_draw), {}

        monkeypatch.setattr(runs, "measure", measure)
        return asked

    return install


def test_a_set_that_beats_every_draw_doubles_to_the_cap_and_reaches_p_below_adjusted_alpha(stand_in):
    asked = stand_in(lambda i: np.random.default_rng(i).uniform(-0.5, 0.5))
    done = faith.extend_null("m", "mean", thresholds.load(), loaded=object(), log=lambda line: None)
    cap = thresholds.load().verdicts.faithfulness_max_draws
    assert asked == [60, 120, 240, 480, cap] and done["reached"] == 0
    assert done["p"] == pytest.approx(1 / (cap + 1)) and done["p"] < 0.05 / 16


def test_a_set_inside_the_null_stops_once_h_draws_reach_it(stand_in):
    asked = stand_in(lambda i: 0.9 if i % 2 else 0.0)  # half the draws reach f = 0.8
    done = faith.extend_null("m", "mean", thresholds.load(), loaded=object(), log=lambda line: None)
    assert asked == [] and done["reached"] >= thresholds.load().verdicts.sequential_h and done["p"] > 0.4

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


def results(n_random: dict[int, int], f_draw) -> pd.DataFrame:
    """Stored results with m = f (full = 1, empty = 0): at each k of `n_random` the top set at f = 0.8
    and that many random draws."""
    rows = [{"model": "m", "method": "mean", "kind": "full", "ranking": "", "k": 100, "draw": 0, "label": "", "heads": "", "m": 1.0},
            {"model": "m", "method": "mean", "kind": "empty", "ranking": "", "k": 0, "draw": 0, "label": "", "heads": "", "m": 0.0}]
    for k, n in n_random.items():
        rows.append({"model": "m", "method": "mean", "kind": "top", "ranking": "abs", "k": k, "draw": 0, "label": "", "heads": "", "m": 0.8})
        rows += [{"model": "m", "method": "mean", "kind": "random", "ranking": "", "k": k, "draw": i, "label": "", "heads": "",
                  "m": f_draw(i)} for i in range(n)]
    return pd.DataFrame(rows)


@pytest.fixture
def stand_in(monkeypatch):
    asked = []

    def install(f_draw, ks=(K,), stored=None):
        from harness.runs import faithfulness as runs

        monkeypatch.setattr(faith, "claim_ks", lambda model, cfg: ks)
        monkeypatch.setattr(runs, "stored", lambda model, method: (results(stored or {K: 30}, f_draw), {}))
        monkeypatch.setattr(runs, "run_for", lambda *a, **k: None)
        monkeypatch.setattr(faith, "plan", lambda model, method, cfg, n_random=None, design=None: dict(n_random))

        def measure(model, run, n_random, device, loaded):
            asked.append(n_random)
            return results(n_random, f_draw), {}

        monkeypatch.setattr(runs, "measure", measure)
        return asked

    return install


def test_a_set_that_beats_every_draw_doubles_to_the_cap_and_reaches_p_below_adjusted_alpha(stand_in):
    asked = stand_in(lambda i: np.random.default_rng(i).uniform(-0.5, 0.5))
    done = faith.extend_null("smollm2-135m", "mean", thresholds.load(), loaded=object(), log=lambda line: None)
    cap = thresholds.load().verdicts.faithfulness_max_draws
    assert [a[K] for a in asked] == [60, 120, 240, 480, cap] and done["reached"] == 0
    assert done["p"] == pytest.approx(1 / (cap + 1)) and done["p"] < 0.05 / 16


def test_a_set_inside_the_null_stops_once_h_draws_reach_it(stand_in):
    asked = stand_in(lambda i: 0.9 if i % 2 else 0.0)  # half the draws reach f = 0.8
    done = faith.extend_null("smollm2-135m", "mean", thresholds.load(), loaded=object(), log=lambda line: None)
    assert asked == [] and done["reached"] >= thresholds.load().verdicts.sequential_h and done["p"] > 0.4


def test_the_size_aware_null_grows_on_its_own_from_a_k_never_measured(stand_in):
    # the stored results hold only the seed's K (decided: half the draws reach it); the size-aware k = 7
    # has no top set yet, so it is measured at [faithfulness] n_random draws and doubled while undecided,
    # the seed's K left at the draws it has
    n0 = thresholds.load().faithfulness.n_random
    asked = stand_in(lambda i: 0.9 if i % 2 else 0.0, ks=(K, 7))
    done = faith.extend_null("smollm2-135m", "mean", thresholds.load(), loaded=object(), log=lambda line: None)
    assert asked[0] == {K: n0, 7: n0} and all(a[K] == n0 for a in asked)
    assert done["by_k"][7]["reached"] >= thresholds.load().verdicts.sequential_h and done["draws"] == n0

"""The faithfulness null grown by doubling until it decides (harness.claims.faithfulness_runs.extend_null),
with the measurement replaced by a stand-in: which draws it asks for and when it stops. No model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.claims import thresholds
from harness.analysis import causal_transfer as ct
from harness.claims import faithfulness_runs as faith

pytestmark = pytest.mark.unit
K = thresholds.load().transfer.k


def results(n_random: dict[int, int], f_draw, f_mapped: dict[int, float] | None = None) -> pd.DataFrame:
    """Stored results with m = f (full = 1, empty = 0): at each k of `n_random` the top set at f = 0.8
    and that many random draws; at each k of `f_mapped` a base's index-mapped top-k at that f."""
    rows = [{"model": "m", "method": "mean", "kind": "full", "ranking": "", "k": 100, "draw": 0, "label": "", "heads": "", "m": 1.0},
            {"model": "m", "method": "mean", "kind": "empty", "ranking": "", "k": 0, "draw": 0, "label": "", "heads": "", "m": 0.0}]
    for k, n in n_random.items():
        rows.append({"model": "m", "method": "mean", "kind": "top", "ranking": "abs", "k": k, "draw": 0, "label": "", "heads": "", "m": 0.8})
        rows += [{"model": "m", "method": "mean", "kind": "random", "ranking": "", "k": k, "draw": i, "label": "", "heads": "",
                  "m": f_draw(i)} for i in range(n)]
    for k, f in (f_mapped or {}).items():
        rows.append({"model": "m", "method": "mean", "kind": "mapped", "ranking": "", "k": k, "draw": 0,
                     "label": ct.mapped_label("b", ct.INDEX, 0, k), "heads": "", "m": f})
    return pd.DataFrame(rows)


@pytest.fixture
def stand_in(monkeypatch):
    asked = []

    def install(f_draw, ks=(K,), stored=None, transfer=(), f_mapped=None):
        from harness.runs import faithfulness as runs

        monkeypatch.setattr(faith, "own_ks", lambda model, cfg: ks)
        monkeypatch.setattr(faith, "transfer_ks", lambda model, cfg, design=None: tuple(transfer))
        monkeypatch.setattr(faith, "claim_ks", lambda model, cfg, design=None: tuple(dict.fromkeys((*ks, *transfer))))
        monkeypatch.setattr(runs, "stored", lambda model, method: (results(stored or {K: 30}, f_draw, f_mapped), {}))
        monkeypatch.setattr(runs, "run_for", lambda *a, **k: None)
        monkeypatch.setattr(faith, "plan", lambda model, method, cfg, n_random=None, design=None: dict(n_random))

        def measure(model, run, n_random, device, loaded):
            asked.append(n_random)
            return results(n_random, f_draw, f_mapped), {}

        monkeypatch.setattr(runs, "measure", measure)
        return asked

    return install


def test_a_set_that_beats_every_draw_doubles_to_the_cap_and_reaches_p_below_adjusted_alpha(stand_in):
    asked = stand_in(lambda i: np.random.default_rng(i).uniform(-0.5, 0.5))
    done = faith.extend_null("smollm2-135m", "mean", thresholds.load(), loaded=object(), log=lambda line: None)
    cap = thresholds.load().verdicts.faithfulness_max_draws
    assert [a[K] for a in asked] == [60, 120, 240, 480, 960, cap] and done["reached"] == 0
    assert done["p"] == pytest.approx(1 / (cap + 1)) and done["p"] < 0.001 and done["p"] < 0.05 / 24  # issue 27: p < 0.001


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


def test_a_bases_size_aware_k_grows_until_it_decides_the_index_mapped_sets_f(stand_in):
    # at k = 27 the target's own top set (f 0.8) is no claim's; the index-mapped top-27 of a base at f 0.95
    # is C2's: the null doubles until h draws reach 0.95 (draws above 0.9 are 1 in 4 here), not 0.8
    n0 = thresholds.load().faithfulness.n_random
    h = thresholds.load().verdicts.sequential_h
    asked = stand_in(lambda i: 0.97 if i % 4 == 0 else 0.85, stored={K: 30, 27: n0}, transfer=(27,), f_mapped={27: 0.95})
    done = faith.extend_null("smollm2-135m", "mean", thresholds.load(), loaded=object(), log=lambda line: None)
    assert asked and all(a[K] == n0 for a in asked)  # the seed's K: its top set is reached by every draw
    assert done["by_k"][27]["f_top"] == pytest.approx(0.95) and done["by_k"][27]["reached"] >= h
    assert done["by_k"][27]["draws"] == asked[-1][27] > n0


def test_no_draw_is_spent_on_a_top_set_below_min_f(stand_in):
    # f(top) = 0.8 < min_f = 0.9 here and no draw reaches it: C1 fails on f whatever the p, so the null is
    # not grown (it would double to the cap otherwise), and the top set's position is still reported
    from harness.schema import replace

    cfg = thresholds.load()
    asked = stand_in(lambda i: -1.0)
    done = faith.extend_null("smollm2-135m", "mean", replace(cfg, C1=replace(cfg.C1, min_f=0.9)), loaded=object(), log=lambda line: None)
    assert asked == [] and done["draws"] == cfg.faithfulness.n_random and done["f_top"] == pytest.approx(0.8) and done["reached"] == 0

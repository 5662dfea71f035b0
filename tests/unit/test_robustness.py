"""Robustness sweep: the grid (claims/robustness.toml as a typed object), the normalised rank metric,
the labels, flips, the geometry reading of missing, the typed [transfer] choices, and the
`robustness --quick` command (with a snapshot of its CSV)."""

import io
import itertools

import numpy as np
import pandas as pd
import pytest

import tomllib

from harness.analysis import rank_metric, transfer
from harness.claims import checks as claims
from harness.claims import grid as grid_mod
from harness.claims import robustness, thresholds
from harness.cli.main import main
from harness.data import head_table, published
from harness.models import registry

pytestmark = pytest.mark.unit


SETTINGS = thresholds.load()


@pytest.fixture(scope="module")
def table():
    return published.load_heads()[0]


def heads_of(table, base, target, **changes):
    return transfer.transfer_heads(table, base, target, **SETTINGS.with_transfer(**changes).transfer.kwargs())


# --- normalised rank metric -------------------------------------------------------------------------


@pytest.mark.parametrize("m,n", [(1, 1), (2, 5), (3, 6), (4, 7)])
def test_best_and_random_mean_frac_rank_by_enumerating_every_placement(m, n):
    """Place m heads on every m-subset of n ranks: the smallest mean of (r+1)/n is the formula's
    best, the average over all placements is the formula's random."""
    means = [np.mean([(r + 1) / n for r in ranks]) for ranks in itertools.combinations(range(n), m)]
    assert min(means) == pytest.approx(rank_metric.best_mean_frac_rank(m, n))
    assert np.mean(means) == pytest.approx(rank_metric.random_mean_frac_rank(n))


def test_normalise_maps_best_to_zero_and_chance_to_one():
    m, n = 20, 48
    best, chance = rank_metric.best_mean_frac_rank(m, n), rank_metric.random_mean_frac_rank(n)
    np.testing.assert_allclose(rank_metric.normalise([best, chance], m, n), [0.0, 1.0])
    assert best == pytest.approx(0.22, abs=0.005)  # the issue's figure for pythia-70m's 48 heads
    with pytest.raises(ValueError, match="m <= n"):
        rank_metric.best_mean_frac_rank(5, 4)
    with pytest.raises(ValueError, match="undefined"):
        rank_metric.normalise([0.5], 4, 4)


def test_normalised_heads_average_to_the_normalised_pair_mean(table):
    heads = heads_of(table, "pythia-160m", "pythia-410m")
    n, m = heads.attrs["n_target"], int(heads["tgt_frac_rank"].notna().sum())
    assert n == (table["model"] == "pythia-410m").sum()
    pair = transfer.summarize_heads(heads)["mean_frac_rank"]
    assert rank_metric.normalised_heads(heads)["tgt_frac_rank"].mean() == pytest.approx(rank_metric.normalise(pair, m, n))


# --- geometry reading and categories ------------------------------------------------------------------


def test_geometry_reading_ranks_every_head_of_the_architecture(table):
    ranks = transfer.target_ranks(table, "pythia-70m", ties="average", over="geometry")
    spec = registry.get("pythia-70m")
    assert len(ranks) == spec.n_heads_total  # rows outside its 6 x 8 heads dropped, absent heads added
    assert ranks["layer"].max() < spec.n_layers
    heads = heads_of(table, "pythia-410m", "pythia-1b", missing="geometry")
    assert heads.attrs["n_target"] == registry.get("pythia-1b").n_heads_total
    assert (heads["tgt_rank"].isna() == heads["missing_geometry"]).all()
    assert heads["missing_table"].sum() > heads["missing_geometry"].sum()  # missing_table keeps its meaning
    with pytest.raises(ValueError, match="reading of missing"):
        transfer.target_ranks(table, "pythia-70m", ties="average", over="rows")


def test_with_categories_relabels_with_the_signed_rule(table):
    assert head_table.with_categories(table, "labelled") is table
    relabelled = head_table.with_categories(table, 0.05)
    changed = relabelled["category"] != table["category"]
    assert changed.sum() == sum(len(f.rows) for f in head_table.category_rule_findings(table) if "signed" in f.message)
    with pytest.raises(ValueError, match="positive tau"):
        head_table.with_categories(table, "0.05")


# --- the typed settings and the grid -------------------------------------------------------------------


def _raw(path):
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def test_new_transfer_keys_are_typed_and_validated():
    t = SETTINGS.transfer
    assert (t.categories, t.missing, t.rank_metric) == ("labelled", "table", "raw")
    assert SETTINGS.with_transfer(categories=1).transfer.categories == 1.0  # a tau is a float
    assert set(t.kwargs()) == {"k", "ties", "weak_above", "missing"}  # what transfer_heads takes
    for changes, message in [
        ({"missing": "rows"}, "transfer.missing = 'rows' must be one of"),
        ({"rank_metric": "log"}, "transfer.rank_metric = 'log' must be one of"),
        ({"categories": "tau"}, "transfer.categories = 'tau' must be 'labelled' or a positive tau"),
        ({"categories": -0.1}, "transfer.categories = -0.1 must be"),
        ({"k": "10"}, "transfer.k = '10' must be int"),
        ({"kk": 10}, "unknown key transfer.kk"),
    ]:
        with pytest.raises(thresholds.ThresholdsError, match=message):
            SETTINGS.with_transfer(**changes)
    raw = _raw(thresholds.THRESHOLDS_FILE)
    raw["transfer"]["missing"] = "geometric"
    with pytest.raises(thresholds.ThresholdsError, match=r"thresholds\.toml: transfer\.missing = 'geometric'"):
        thresholds.parse(raw)
    raw = _raw(thresholds.THRESHOLDS_FILE)
    del raw["transfer"]["rank_metric"]
    with pytest.raises(thresholds.ThresholdsError, match="missing key transfer.rank_metric"):
        thresholds.parse(raw)


def test_every_choice_has_a_rationale_and_its_default_among_its_values():
    grid = grid_mod.load()
    assert {c.level for c in grid.choices.values()} == {"table", "score"}
    for c in grid.choices.values():
        assert c.rationale and c.default in c.values
        if c.level == "table":
            assert getattr(SETTINGS.transfer, c.field) == c.default


def test_robustness_file_errors_name_the_key_and_the_file():
    raw = _raw(grid_mod.GRID_FILE)
    raw["table"]["k"]["values"] = [10, 40]
    with pytest.raises(grid_mod.GridError, match=r"robustness\.toml: choice 'k': default 20 .* is not one of"):
        grid_mod.parse(raw)
    for edit, message in [
        (lambda r: r["table"]["k"].update(valuez=[1]), r"robustness\.toml: unknown key table\.k\.valuez"),
        (lambda r: r["table"]["k"].pop("rationale"), r"robustness\.toml: missing key table\.k\.rationale"),
        (lambda r: r["table"]["ties"].update(values=["average", "random"]), r"table\.ties\.values\[1\]: .*transfer\.ties = 'random'"),
        (lambda r: r["table"]["k"].update(setting="transfer.kk"), r"table\.k\.values\[0\]: .*unknown key transfer\.kk"),
        (lambda r: r["labels"].update(robust_min=1.5), r"labels\.robust_min = 1\.5 must be"),
        (lambda r: r["score"]["method"].update(run_field="nope"), r"score\.method\.run_field = 'nope' is not a field of RunSpec"),
        (lambda r: r.update(extra={}), r"robustness\.toml: unknown key extra"),
    ]:
        raw = _raw(grid_mod.GRID_FILE)
        edit(raw)
        with pytest.raises(grid_mod.GridError, match=message):
            grid_mod.parse(raw)


def test_unknown_choice_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown choice bogus"):
        grid_mod.load().table(["k", "bogus"])


def test_universes_are_the_full_product_defaults_first():
    choices = grid_mod.load().table()
    grid = robustness.universes(choices)
    assert len(grid) == np.prod([len(c.values) for c in choices.values()])
    assert len({tuple(u.values()) for u in grid}) == len(grid)
    assert grid[0] == {n: c.default for n, c in choices.items()}


def test_configure_sets_the_named_settings_on_a_copy():
    choices = grid_mod.load().table()
    out = robustness.configure(SETTINGS, {"k": 40, "tau": 0.1}, choices)
    assert (out.transfer.k, out.transfer.categories) == (40, 0.1)
    assert (SETTINGS.transfer.k, SETTINGS.transfer.categories) == (20, "labelled")


def test_default_universe_is_the_main_evaluation(table):
    """The gate does not move: at the defaults every check holds exactly when the suite says so."""
    choices = grid_mod.load().table(["k", "metric"])
    long = robustness.sweep(table, "published", choices)
    at_default = long[(long["k"] == choices["k"].default) & (long["metric"] == choices["metric"].default)]
    main_eval = claims.evaluate(table, "published")
    assert {(r.claim, r.variant): r.holds for r in at_default.itertuples()} == {k: c.holds for k, c in main_eval.checks.items()}


def test_a_changed_choice_changes_the_measured_value(table):
    """Each table-level choice reaches the computation (one value moved from its default must change
    some check's measured text)."""
    choices = grid_mod.load().table()
    base = {k: c.measured for k, c in claims.evaluate(table, "published", SETTINGS).checks.items()}
    for name, choice in choices.items():
        other = next(v for v in choice.values if v != choice.default)
        moved = claims.evaluate(table, "published", robustness.configure(SETTINGS, {name: other}, choices)).checks
        assert any(moved[k].measured != base[k] for k in base), name


# --- labels and flips ---------------------------------------------------------------------------------


def test_labels_at_their_boundaries():
    labels = grid_mod.load().labels
    assert labels(labels.robust_min) == "robust"
    assert labels(np.nextafter(labels.robust_min, 0)) == "in between"
    assert labels(labels.fragile_below) == "in between"
    assert labels(np.nextafter(labels.fragile_below, 0)) == "fragile"


def test_flips_name_single_choices_and_not_combinations():
    choices = {
        "a": grid_mod.Choice("a", "table", (0, 1), 0, "r", "x.a"),
        "b": grid_mod.Choice("b", "table", (0, 1, 2), 0, "r", "x.b"),
    }
    # holds at the defaults; a=1 alone flips it; b alone never does; a=1 with b=2 flips back.
    holds = {(0, 0): True, (1, 0): False, (0, 1): True, (0, 2): True, (1, 1): False, (1, 2): True}
    long = pd.DataFrame(
        [{"a": a, "b": b, "source": "s", "claim": "C", "variant": "v", "holds": h} for (a, b), h in holds.items()]
    )
    summary = robustness.summarize(long, choices, grid_mod.Labels(0.9, 0.5, "r"))
    row = summary.iloc[0]
    assert row["flipped_by"] == "a=1"
    assert (row["n_universes"], row["share_held"], row["robustness"]) == (6, round(4 / 6, 3), "in between")
    score_rows = pd.DataFrame([{"source": "s", "claim": "C", "variant": "v", "choice": "method", "value": "zero", "holds": False}])
    with_score = robustness.summarize(long, choices, grid_mod.Labels(0.9, 0.5, "r"), score_rows).iloc[0]
    assert (with_score["n_universes"], with_score["flipped_by"]) == (7, "a=1; method=zero")


def test_published_score_level_says_it_does_not_apply():
    rows, notes = robustness.score_level("published", [], {}, grid_mod.load())
    assert rows.empty and len(notes) == 1 and "do not apply" in notes[0]


def test_scan_cost_grows_with_heads_times_parameters():
    small, basis = robustness.scan_cost_seconds(["pythia-70m"])
    large, _ = robustness.scan_cost_seconds(["pythia-1b"])
    spec_s, spec_l = registry.get("pythia-70m"), registry.get("pythia-1b")
    assert large / small == pytest.approx(spec_l.n_heads_total * spec_l.n_params / (spec_s.n_heads_total * spec_s.n_params))
    assert registry.REFERENCE_MODEL in basis


# --- the command --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_csv(tmp_path_factory):
    heatmap = tmp_path_factory.mktemp("robustness") / "heatmap.png"
    out = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(out):
        assert main(["robustness", "--quick", "--source", "published", "--format", "csv", "--heatmap", str(heatmap)]) == 0
    return out.getvalue(), heatmap


def test_quick_csv_has_one_row_per_check_and_the_issue_columns(quick_csv, table):
    text, heatmap = quick_csv
    frame = pd.read_csv(io.StringIO(text))
    required = ["source", "claim", "variant", "n_universes", "share_held", "default_verdict"]
    assert list(frame.columns[: len(required)]) == required
    checks = claims.evaluate(table, "published").checks
    assert set(zip(frame["claim"], frame["variant"])) == set(checks) and len(frame) == len(checks)
    grid = np.prod([len(c.values) for c in grid_mod.load().table().values()])
    assert (frame["n_universes"] == grid).all()
    assert frame["share_held"].between(0, 1).all()
    expected = {f"{c}|{v}": "reproduced" if checks[(c, v)].holds else "not reproduced" for c, v in checks}
    assert dict(zip(frame["claim"] + "|" + frame["variant"], frame["default_verdict"])) == expected
    assert heatmap.is_file() and heatmap.stat().st_size > 0


def test_quick_csv_snapshot(quick_csv, snapshot):
    assert quick_csv[0] == snapshot


def test_unknown_source_and_choice_are_one_line_errors():
    with pytest.raises(SystemExit, match="robustness: unknown source 'nope'"):
        main(["robustness", "--quick", "--source", "nope", "--heatmap", ""])
    with pytest.raises(SystemExit, match="robustness: unknown choice zz"):
        main(["robustness", "--quick", "--source", "published", "--choices", "zz", "--heatmap", ""])


def test_verdict_table_notes_are_the_csv_rows(quick_csv, table):
    """The pytest verdict table and `report` read the same sweep as the CSV: one note per check,
    its label and share."""
    frame = pd.read_csv(io.StringIO(quick_csv[0]))
    notes = robustness.notes_for([claims.evaluate(table, "published")])
    expected = {
        claims.check_key(r.claim, r.source, r.variant): f"{r.robustness} {r.share_held:.2f}" for r in frame.itertuples(index=False)
    }
    assert notes == expected
    from harness.report.render import terminal_table, verdict_frame

    shown = verdict_frame(claims.evaluate(table, "published").checks.values(), None, notes)
    assert list(shown["robustness"]) == [notes[k] for k in shown["check"]]
    assert "fragile 0.19" in terminal_table(shown)


def test_a_scans_measured_cost_counts_every_layer_over_resumed_runs():
    assert robustness.measured_scan_seconds({"seconds": 100.0, "layer_seconds_all_runs": 250.0, "resumed_layers": 3}, 10) == 250.0
    assert robustness.measured_scan_seconds({"seconds": 100.0, "resumed_layers": 5}, 10) == 200.0  # older shards: scaled up
    assert robustness.measured_scan_seconds({"seconds": 100.0}, 10) == 100.0
    assert robustness.measured_scan_seconds({}, 10) is None


def test_a_design_sources_not_computed_cost_is_what_its_own_scans_took():
    """zoo:mean's variants cost what its four stored scans took here (read from their meta), not the
    heads x parameters scaling of SmolLM2's scan (which said ~23 h for about 2)."""
    from harness.data.designs import builtin
    from harness.runs.zoo import zoo_entry

    models = list(builtin("zoo").models)
    cost, basis = robustness.design_scan_cost("zoo:mean", models)
    expected = sum(robustness.measured_scan_seconds(zoo_entry(registry.get(m), "mean")[1], registry.get(m).n_layers) for m in models)
    assert cost == pytest.approx(expected) and basis.startswith("measured: the mean scans")
    assert all(m in basis for m in models)
    assert robustness.design_scan_cost("recomputed:mean", ["pythia-70m"]) is None  # no design scans: the rough scaling

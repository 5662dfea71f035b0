"""Issue 30: every settings file is read by one schema library (harness.schema); ranges live on the
fields' types, every section is required, and a refusal is one line naming the file and the key.

The thresholds cases below were run against the hand-written loader before the change (main at
a0e6d3f) and seen red: it had no range for C1/C2/M2 max_p, C1 min_f, [screen], and M1-M3 and
[correspondence] were optional although role_claims.py reads them without a None check."""

import copy
import tomllib

import pytest

from harness.claims import grid, thresholds

pytestmark = pytest.mark.unit


def _raw() -> dict:
    with open(thresholds.THRESHOLDS_FILE, "rb") as fh:
        return tomllib.load(fh)


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("C1", "max_p", 2.0, "C1.max_p = 2.0 must be in (0, 1)"),
        ("C2", "max_p", 0.0, "C2.max_p = 0.0 must be in (0, 1)"),
        ("M2", "max_p", 1.5, "M2.max_p = 1.5 must be in (0, 1)"),
        ("C1", "min_f", 1.5, "C1.min_f = 1.5 must be <= 1"),
        ("screen", "top_k", 0, "screen.top_k = 0 must be >= 1"),
        ("screen", "min_top_k", 21, "[screen] min_top_k = 21 must not exceed top_k = 20"),
        ("M3", "min_diff", 2.0, "M3.min_diff = 2.0 must be in [-1, 1]"),
        ("C3", "max_efficiency", "half", "C3.max_efficiency = 'half' must be float <= 1"),
    ],
)
def test_every_number_has_a_declared_range(section, key, value, message):
    raw = _raw()
    raw[section][key] = value
    with pytest.raises(thresholds.ThresholdsError) as err:
        thresholds.parse(raw)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("section", ["M1", "M2", "M3", "correspondence", "screen"])
def test_every_section_is_required(section):
    raw = _raw()
    del raw[section]
    with pytest.raises(thresholds.ThresholdsError, match=rf"thresholds\.toml: missing key {section}$"):
        thresholds.parse(raw)


def test_an_unknown_section_and_the_reserved_path_key_are_refused():
    for key in ("M4", "path"):
        raw = _raw()
        raw[key] = {"x": 1} if key == "M4" else "/tmp"
        with pytest.raises(thresholds.ThresholdsError, match=f"unknown key {key}"):
            thresholds.parse(raw)


def test_a_mistyped_quantifier_names_its_word():
    raw = _raw()
    raw["quantifiers"]["most"]["min_exclusive"] = "half"
    with pytest.raises(thresholds.ThresholdsError, match=r"quantifiers\.most\.min_exclusive = 'half' must be"):
        thresholds.parse(raw)


def test_a_correspondence_signature_names_role_columns_only():
    raw = _raw()
    raw["correspondence"]["signature"] = ["prev_token", "dla_io_s"]  # the DLA is outcome-near: never a signature
    with pytest.raises(thresholds.ThresholdsError, match=r"correspondence\.signature\[1\] = 'dla_io_s' must be one of"):
        thresholds.parse(raw)
    raw["correspondence"]["signature"] = []
    with pytest.raises(thresholds.ThresholdsError, match="correspondence.signature"):
        thresholds.parse(raw)


def test_the_committed_file_reads_and_is_frozen():
    cfg = thresholds.parse(copy.deepcopy(_raw()))
    assert cfg.M1.min_lost_exclusive == 0.5 and cfg.quantifier("moderate").holds(0.3)
    with pytest.raises(AttributeError):
        cfg.W1.max_kept_strong = 0.9  # type: ignore[misc]


def test_ranges_read_as_they_are_declared():
    from harness.schema import Count, PValue, Seed, Share, describe

    assert describe(Share, with_type=False) == "in [0, 1]"
    assert describe(PValue, with_type=False) == "in (0, 1)"
    assert describe(Count) == "int >= 1"
    assert describe(Seed, with_type=False) == "in [0, 2**32)"


# --- claims/robustness.toml and claims/role_robustness.toml on the same schema ---------------------


def _grid_raw(path) -> dict:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r["score"]["split_half"].update(values=["full", {"x": 1}]), r"score\.split_half\.values\[1\] = \{'x': 1\} must be"),
        (lambda r: r["score"]["style"].update(sibling=3), r"score\.style\.sibling = 3 must be a non-empty text"),
        (lambda r: r["labels"].update(fragile_below=0.95), r"\[labels\] fragile_below = 0\.95 must not exceed robust_min = 0\.9"),
        (lambda r: r.pop("labels"), r"robustness\.toml: missing key labels$"),
        (lambda r: r["table"]["k"].update(rationale="  "), r"table\.k\.rationale = '  ' must be a non-empty text"),
    ],
)
def test_robustness_file_is_read_by_the_schema(edit, message):
    from harness.claims import grid

    raw = _grid_raw(grid.GRID_FILE)
    edit(raw)
    with pytest.raises(grid.GridError, match=message):
        grid.parse(raw)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("values = [0.5, 1.0, 2.0]", "values = [0.5, 1.0, -2.0]", r"w_depth\.values\[2\] = -2\.0 must be >= 0"),
        ('values = ["rank", "zscore"]', 'values = ["rank", "minmax"]', r"standardize\.values\[1\] = 'minmax' must be one of"),
        ('values = ["all", "attention", "ioi"]', 'values = ["all", "attention", "iio"]', r"\[signature\] values name 'iio'"),
        ('ioi = ["attn_io"', 'ioi = ["dla_io_s", "attn_io"', r"signature\.sets\.ioi\[0\] = 'dla_io_s' must be one of"),
        ("[standardize]", "[standardise]", r"unknown key standardise"),
        ('values = ["rank", "zscore"]', 'values = ["zscore"]', r"standardize\.values must include the default 'rank'"),
    ],
)
def test_role_robustness_file_is_read_by_the_schema(tmp_path, old, new, message):
    from harness.claims import role_grid

    text = role_grid.ROLE_GRID_FILE.read_text()
    assert old in text
    path = tmp_path / "role_robustness.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(role_grid.RoleGridError, match=message) as err:
        role_grid.load(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_role_grid_values_are_what_the_sweep_sets():
    from harness.claims import role_grid

    choices = role_grid.load()
    assert [label for label, _ in choices["w_depth"]] == ["0.5", "1.0", "2.0"]
    assert dict(choices["signature"])["ioi"] == ("attn_io", "attn_s1", "attn_s2", "copy", "neg_copy")
    assert choices["standardize"] == [("rank", "rank"), ("zscore", "zscore")]


# --- design files on the same schema -------------------------------------------------------------

DESIGN = """
name = "mine"
[models]
"pythia-70m" = {}
"pythia-160m" = {}
[[pairs]]
base = "pythia-70m"
target = "pythia-160m"
"""
HUB = 'hub = "org/x", family = "f", architecture = "GPTNeoXForCausalLM", n_layers = 2, n_heads = 2'


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('"pythia-160m" = {}', '"pythia-160m" = { style = "shakespeare" }', "models.pythia-160m.style = 'shakespeare' must be one of"),
        ('"pythia-160m" = {}', '"pythia-160m" = {}\n"../evil" = { ' + HUB + " }", "models.'../evil': '../evil' is not a safe name"),
        ('"pythia-160m" = {}', '"pythia-160m" = {}\n"x" = { ' + HUB + ', prepend_bos = "no" }', "models.x.prepend_bos = 'no' must be bool"),
        ('"pythia-160m" = {}', '"pythia-160m" = {}\n"x" = { ' + HUB.replace('"f"', "3") + " }", "models.x.family = 3 must be a non-empty text"),
        ('name = "mine"', 'name = "mine"\ndescription = 5', "description = 5 must be str"),
        ('name = "mine"', 'name = "mi:ne"', "name = 'mi:ne' must be a non-empty name without [ ] : ,"),
    ],
)
def test_a_design_file_is_read_by_the_schema(tmp_path, old, new, message):
    from harness.data import designs

    assert old in DESIGN
    path = tmp_path / "mine.toml"
    path.write_text(DESIGN.replace(old, new, 1))
    with pytest.raises(designs.DesignError) as err:
        designs.load(path)
    assert f"design file {path}" in str(err.value) and message in str(err.value) and "\n" not in str(err.value)


# --- claims/verdicts.toml written by tomli-w ---------------------------------------------------------


def test_verdicts_render_escapes_what_a_measured_text_may_hold():
    """Seen red with the hand-written writer: a newline or control character in a measured text made
    a file tomllib could not read (TOMLDecodeError from render)."""
    from harness.claims import verdicts

    kept = {"P1[s-v]": {"measured": 'a\nb\t"c"\x01 \\ d', "threshold": "x < 0.5"}}
    data = tomllib.loads(verdicts.render([], kept, digest="0" * 64))
    assert data["P1[s-v]"] == {"verdict": "not reproduced", **kept["P1[s-v]"]}


def test_the_committed_verdicts_are_what_the_writer_writes():
    from harness.claims import verdicts

    data = verdicts.load_file()
    text = verdicts.render([], verdicts.load_verdicts(), digest=data[verdicts.SETTINGS_KEY], coverage=data[verdicts.COVERAGE_KEY])
    assert text == verdicts.VERDICTS_FILE.read_text()


# --- out of range, not finite, not TOML: one line naming file and key (issue 21: seen red before its fix, at 3fb7107)


@pytest.mark.parametrize(
    "old, new, key",
    [
        ("tolerance = 0.05", "tolerance = inf", "approx.tolerance = inf must be a finite number"),
        ("tolerance = 0.05", "tolerance = nan", "approx.tolerance = nan must be a finite number"),
        ("tolerance = 0.05", "tolerance = -0.05", "approx.tolerance = -0.05 must be in [0, 1]"),
        ("min = 0.20\nmax_exclusive = 0.50", "min = 0.60\nmax_exclusive = 0.50", "[quantifiers.moderate] min = 0.6 must be below max_exclusive"),
        ("max_p = 0.05", "max_p = 2.0", "X2.max_p = 2.0 must be in (0, 1)"),
        ("level = 0.95", "level = 1.5", "uncertainty.level = 1.5 must be in (0, 1)"),
        ("n_boot = 2000", "n_boot = 0", "uncertainty.n_boot = 0 must be in [1, 1000000]"),
        ("max_kept_strong = 0.80", "max_kept_strong = -inf", "W1.max_kept_strong = -inf must be a finite number"),
        ("weak_above = 0.5", "weak_above = nan", "transfer.weak_above = nan must be a finite number"),
    ],
)
def test_thresholds_out_of_range_or_not_finite_are_one_line_naming_file_and_key(tmp_path, old, new, key):
    text = thresholds.THRESHOLDS_FILE.read_text()
    assert old in text
    path = tmp_path / "thresholds.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(thresholds.ThresholdsError) as err:
        thresholds.load(path)
    assert str(path) in str(err.value) and key in str(err.value) and "\n" not in str(err.value)

def test_a_toml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "thresholds.toml"
    path.write_text("[transfer\nk = 20\n")
    with pytest.raises(thresholds.ThresholdsError, match=f"{path}: not valid TOML"):
        thresholds.load(path)
    bad_grid = tmp_path / "robustness.toml"
    bad_grid.write_text("labels = \n")
    with pytest.raises(grid.GridError, match=f"{bad_grid}: not valid TOML"):
        grid.load(bad_grid)

def test_robustness_values_must_be_finite(tmp_path):
    text = grid.GRID_FILE.read_text()
    path = tmp_path / "robustness.toml"
    path.write_text(text + "\n[table.extra_nan]\nsetting = 'transfer.weak_above'\nvalues = [0.5, nan]\nrationale = 'x'\n")
    with pytest.raises(grid.GridError, match=r"table.extra_nan.values\[1\].*nan must be a finite number"):
        grid.load(path)

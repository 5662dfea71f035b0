"""Issue 30: every settings file is read by one schema library (harness.schema); ranges live on the
fields' types, every section is required, and a refusal is one line naming the file and the key.

The thresholds cases below were run against the hand-written loader before the change (main at
a0e6d3f) and seen red: it had no range for C1/C2/M2 max_p, C1 min_f, [screen], and M1-M3 and
[correspondence] were optional although role_claims.py reads them without a None check."""

import copy
import tomllib

import pytest

from harness.claims import thresholds

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

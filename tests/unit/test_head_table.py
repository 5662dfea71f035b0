"""Head-table schema: strict validation names the bad rows; audit mode lists findings."""

import numpy as np
import pandas as pd
import pytest

from harness.data import head_table
from harness.data.head_table import HeadTableError, categorize, validate

pytestmark = pytest.mark.unit


def good_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "family": ["gpt2"] * 3,
            "model": ["gpt2"] * 3,
            "layer": [0, 5, 11],
            "head": [1, 2, 11],
            "delta_ioi": [-0.3, 0.0, -0.06],
            "delta_anti": [0.0, -0.2, -0.1],
            "category": ["ioi_only", "anti_only", "shared"],
        }
    )


def test_good_table_has_no_findings():
    assert validate(good_table()) == []


def test_missing_column_is_an_error_even_in_audit_mode():
    with pytest.raises(HeadTableError, match="delta_anti"):
        validate(good_table().drop(columns="delta_anti"), mode="audit")


@pytest.mark.parametrize(
    "edit, check, row",
    [
        (lambda t: t.assign(delta_ioi=[-0.3, np.nan, -0.06]), "nan", 1),
        (lambda t: t.assign(layer=[0, 12, 11]), "geometry", 1),
        (lambda t: t.assign(head=[0, 2, -1]), "geometry", 2),
        (lambda t: t.assign(layer=[0, 0, 11], head=[1, 1, 11]), "duplicate", 1),
        (lambda t: t.assign(category=["ioi_only", "other", "shared"]), "category", 1),
        (lambda t: t.assign(model=["gpt2", "gpt-7", "gpt2"]), "unknown_model", 1),
        (lambda t: t.assign(layer=["0", "x", "11"]), "type", 1),
    ],
)
def test_bad_tables_name_the_rows(edit, check, row):
    bad = edit(good_table())
    with pytest.raises(HeadTableError) as err:
        validate(bad)
    found = [f for f in err.value.findings if f.check == check]
    assert found, err.value
    assert row in found[0].rows
    audit = validate(bad, mode="audit")
    assert any(f.check == check and row in f.rows for f in audit)


def test_signed_and_absolute_category_rules_differ_on_positive_deltas():
    di = np.array([-0.2, 0.2, 0.01, 0.0])
    da = np.array([0.0, -0.2, 0.0, 0.3])
    assert list(categorize(di, da, rule="signed")) == ["ioi_only", "anti_only", "weak", "weak"]
    assert list(categorize(di, da, rule="absolute")) == ["ioi_only", "shared", "weak", "anti_only"]
    with pytest.raises(ValueError):
        categorize(di, da, rule="bogus")


def test_category_rule_findings_are_warnings_with_rows():
    table = good_table().assign(delta_ioi=[0.3, 0.0, -0.06])  # positive delta labelled ioi_only
    findings = head_table.category_rule_findings(table)
    signed = [f for f in findings if "signed" in f.message]
    assert signed and signed[0].severity == "warning" and signed[0].rows == (0,)
    assert not [f for f in findings if "absolute" in f.message]


def test_audit_flags_a_delta_column_copied_from_another_model():
    from harness.data.head_table import COPIED_MIN_MATCHES, copied_value_findings

    n = COPIED_MIN_MATCHES
    rows = [("pythia", m, 0, h, -0.1 * (h + 1), 0.01 * (h + 1)) for m in ("pythia-70m", "pythia-160m") for h in range(n)]
    table = pd.DataFrame(rows, columns=["family", "model", "layer", "head", "delta_ioi", "delta_anti"])
    table.loc[table["model"] == "pythia-160m", "delta_ioi"] -= 0.5  # delta_ioi measured, delta_anti copied
    found = copied_value_findings(table)
    assert [(f.check, f.model) for f in found] == [("copied_values", "pythia-70m")]
    assert "delta_anti" in found[0].message and len(found[0].rows) == n
    table.loc[table.index[0], "delta_anti"] += 1e-9  # one measured value breaks a run below the bar
    assert copied_value_findings(table, min_matches=n) == []


def test_the_published_pythia_control_column_is_one_column_copied_across_the_ladder():
    from harness.data import published
    from harness.data.head_table import copied_value_findings

    table, _ = published.load_heads()
    pairs = {(f.model, f.message.split(" equals ")[1].split("'s")[0]) for f in copied_value_findings(table) if "delta_anti" in f.message}
    ladder = ["pythia-70m", "pythia-160m", "pythia-410m", "pythia-1b"]
    assert pairs == {(a, b) for i, a in enumerate(ladder) for b in ladder[i + 1 :]}

"""Head-table schema: strict validation names the bad rows; audit mode lists findings."""

import numpy as np
import pandas as pd
import pytest

from harness import head_table
from harness.head_table import HeadTableError, categorize, validate

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

"""The embedded published tables: checksums, and the audit findings the origin's data is known for."""

import shutil

import pytest

from harness.data import published
from harness.data.head_table import findings_frame

pytestmark = pytest.mark.unit


def test_fixtures_match_their_checksums():
    for name in published.expected_checksums():
        published.verify(name, allow_modified=False)


def test_an_edited_table_is_refused_with_the_file_named(tmp_path):
    for f in published.PUBLISHED_DIR.iterdir():
        shutil.copy(f, tmp_path / f.name)
    path = tmp_path / published.HEADS_FILE
    path.write_text(path.read_text().replace("-0.1038367301225662", "-0.2038367301225662", 1))
    with pytest.raises(published.FixtureModified, match=published.HEADS_FILE):
        published.load_heads(tmp_path, allow_modified=False)
    table, _ = published.load_heads(tmp_path, allow_modified=True)
    assert table["delta_ioi"].iloc[0] == pytest.approx(-0.2038367301225662)


def test_audit_finds_the_geometry_violations():
    _, findings = published.load_heads()
    geometry = {f.model: f for f in findings if f.check == "geometry"}
    # pythia-70m is 6x8 yet holds rows at layers 6..12; pythia-160m (12 layers) holds rows at layer 12.
    assert set(geometry) == {"pythia-70m", "pythia-160m"}
    assert len(geometry["pythia-70m"].rows) == 22
    assert "L12H1" in geometry["pythia-160m"].message and "L12H5" in geometry["pythia-160m"].message


def test_audit_finds_the_category_rule_mismatch():
    """The published categories follow the ABSOLUTE rule (paper draft), not the signed rule (code):
    three pythia-70m heads with positive delta_ioi are labelled ioi_only/shared."""
    _, findings = published.load_heads()
    rules = [f for f in findings if f.check == "category_rule"]
    assert [(f.model, len(f.rows)) for f in rules if "signed" in f.message] == [("pythia-70m", 3)]
    assert not [f for f in rules if "absolute" in f.message]
    frame = findings_frame(findings)
    assert set(frame["check"]) == {"geometry", "category_rule", "copied_values"}

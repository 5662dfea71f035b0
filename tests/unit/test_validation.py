"""The one validation step of every head table (harness.data.validation): bad input is a one-line
error naming the file, model, layer and head; the published table's recorded defects pass as findings."""

import shutil

import pandas as pd
import pytest

from harness.data import published, validation
from harness.data.validation import InvalidHeadTable

pytestmark = pytest.mark.unit

HEADS = published.PUBLISHED_DIR / published.HEADS_FILE


def edited_published(tmp_path, edit) -> "pathlib.Path":  # noqa: F821
    """A copy of the published fixtures folder whose head table `edit(DataFrame)` changed (as text)."""
    folder = tmp_path / "published"
    shutil.copytree(published.PUBLISHED_DIR, folder)
    table = pd.read_csv(HEADS, dtype=str, keep_default_na=False)
    edit(table)
    table.to_csv(folder / published.HEADS_FILE, index=False)
    return folder


def row_of(table, model, layer, head):
    hit = table[(table["model"] == model) & (table["layer"] == str(layer)) & (table["head"] == str(head))]
    assert len(hit) == 1
    return hit.index[0]


# (edit of the published table, text the one-line error must hold)
CASES = {
    "minus_inf": (lambda t: t.__setitem__("delta_ioi", t["delta_ioi"].where(t.index != 30, "-inf")), "delta_ioi = -inf"),
    "overflow": (lambda t: t.__setitem__("delta_ioi", t["delta_ioi"].where(t.index != 30, "-1e400")), "delta_ioi = -inf"),
    "huge": (lambda t: t.__setitem__("delta_ioi", t["delta_ioi"].where(t.index != 30, "-1e308")), "delta_ioi = -1e+308"),
    "nan": (lambda t: t.__setitem__("delta_anti", t["delta_anti"].where(t.index != 30, "nan")), "delta_anti = nan"),
    "geometry": (lambda t: t.__setitem__("layer", t["layer"].where(t.index != 30, "99")), "L99H"),
    "category": (lambda t: t.__setitem__("category", t["category"].where(t.index != 30, "IOI-like")), "category 'IOI-like'"),
    "duplicate": (lambda t: t.loc.__setitem__(31, t.loc[30].tolist()), "duplicate (model, layer, head)"),
    "layer_1e20": (lambda t: t.__setitem__("layer", t["layer"].where(t.index != 30, "1e20")), "not an integer index"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_published_loader_names_file_model_layer_head_in_one_line(tmp_path, case):
    edit, expected = CASES[case]
    folder = edited_published(tmp_path, edit)
    original = pd.read_csv(HEADS)
    model = original.loc[30, "model"]
    with pytest.raises(InvalidHeadTable) as err:
        published.load_heads(folder, allow_modified=True)
    message = str(err.value)
    assert "\n" not in message
    assert str(folder / published.HEADS_FILE) in message
    assert "line 32 " in message and model in message  # the CSV line of row 30 (header = line 1)
    assert expected in message
    assert "1 bad row:" in message or case == "duplicate"  # a new row is named alone, not with the recorded ones


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_user_file_goes_through_the_same_step(tmp_path, case):
    edit, expected = CASES[case]
    folder = edited_published(tmp_path, edit)
    with pytest.raises(InvalidHeadTable, match=expected.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        validation.load_file(folder / published.HEADS_FILE)


def test_the_shipped_table_passes_with_its_recorded_findings_only():
    table, findings = published.load_heads()
    known = validation.known_findings()
    assert findings and all(validation.decision_of(f, known) for f in findings)
    assert len(known) == len(findings)
    assert {f.check for f in findings} == {"geometry", "category_rule", "copied_values"}


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "empty file"),
        (b"family,model,layer,head,delta_ioi,delta_anti,category\n", "no rows (header only)"),
        (b"family,model,layer,head,delta_ioi,delta_anti,category\ngpt2,gpt2,0,1,-0.3,0.0,ioi_\xff\n", "not UTF-8"),
        (b"a,b\n1,2\n", "missing required columns"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path, content, expected):
    path = tmp_path / "mine.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidHeadTable) as err:
        validation.load_file(path)
    assert str(path) in str(err.value) and expected in str(err.value) and "\n" not in str(err.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        validation.read_csv(tmp_path / "nope.csv")


HEADER = "family,model,layer,head,delta_ioi,delta_anti,category"


def test_unknown_model_needs_its_geometry(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(f"{HEADER}\nmine,my-model,0,1,-0.3,0.0,ioi_only\n")
    with pytest.raises(InvalidHeadTable, match="my-model L0H1: model not in the registry .*n_layers and n_heads"):
        validation.load_file(path)
    path.write_text(f"{HEADER},n_layers,n_heads\nmine,my-model,0,1,-0.3,0.0,ioi_only,2,4\nmine,my-model,1,3,-0.1,0.0,ioi_only,2,4\n")
    table, _ = validation.load_file(path)
    assert len(table) == 2
    path.write_text(f"{HEADER},n_layers,n_heads\nmine,my-model,2,1,-0.3,0.0,ioi_only,2,4\n")
    with pytest.raises(InvalidHeadTable, match="my-model L2H1: outside the model's 2x4 heads"):
        validation.load_file(path)


def test_geometry_columns_may_not_contradict_the_registry(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(f"{HEADER},n_layers,n_heads\ngpt2,gpt2,0,1,-0.3,0.0,ioi_only,2,4\n")
    with pytest.raises(InvalidHeadTable, match="disagree with the registry"):
        validation.load_file(path)


def test_many_bad_rows_stay_one_line(tmp_path):
    path = tmp_path / "mine.csv"
    rows = "\n".join(f"gpt2,gpt2,{i},0,-0.3,0.0,ioi_only" for i in range(40, 70))
    path.write_text(f"{HEADER}\n{rows}\n")
    with pytest.raises(InvalidHeadTable) as err:
        validation.load_file(path)
    assert "30 bad rows" in str(err.value) and "and 18 more" in str(err.value) and "\n" not in str(err.value)

"""The one validation step every head table goes through before a claim sees it.

Published, recomputed, zoo (from the score caches) and user-given (`file:PATH`) tables all pass
`check(table, origin)`: it runs `head_table.validate` (schema, types, non-finite or absurd deltas,
duplicates, unknown categories, geometry from the registry) and raises `InvalidHeadTable` with ONE
line naming the origin (a file or a source) and, for each bad row, its line, model, layer and head.

The origin's own published table has known defects. They are recorded, each with the decision of how
the suite treats it, in fixtures/published/KNOWN_FINDINGS.toml: a recorded finding is reported (by
`python -m harness audit`) and does not stop the run; a finding that is not recorded does, when it
is an error, and `audit --strict` fails on any unrecorded finding, error or warning.

`read_csv(path)` reads a head-table file and names the file in every error (missing, empty, header
only, not UTF-8, not a CSV).
"""

from __future__ import annotations

import dataclasses
import io
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.data import head_table
from harness.data.head_table import Finding
from harness.models import registry
from harness.paths import FIXTURES_DIR

KNOWN_FINDINGS_FILE = FIXTURES_DIR / "published" / "KNOWN_FINDINGS.toml"
GEOMETRY_COLUMNS = ("n_layers", "n_heads")  # a user table's geometry for models the registry lacks
MAX_ROWS_NAMED = 12  # rows named in one error line; the rest are counted


class InvalidHeadTable(head_table.HeadTableError):
    """A head table that cannot be used; the message is one line naming the origin and the rows."""

    def __init__(self, origin: str, problem: str, findings: list[Finding] | None = None):
        self.origin, self.problem, self.findings = origin, problem, findings or []
        ValueError.__init__(self, f"invalid head table {origin}: {problem}")


@dataclass(frozen=True)
class Known:
    """A recorded finding of the published table and the suite's decision about it."""

    check: str
    model: str | None
    message: str
    decision: str

    def matches(self, finding: Finding) -> bool:
        return (finding.check, finding.model, finding.message) == (self.check, self.model, self.message)


def known_findings(path: Path = KNOWN_FINDINGS_FILE) -> list[Known]:
    """The recorded findings of the published table (KNOWN_FINDINGS.toml)."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return [Known(e["check"], e.get("model") or None, e["message"], e["decision"]) for e in data.get("finding", [])]


def decision_of(finding: Finding, known: list[Known]) -> str | None:
    """The recorded decision for a finding, or None when it is new."""
    return next((k.decision for k in known if k.matches(finding)), None)


def _cell(table: pd.DataFrame, row) -> str:
    """'line N model LxHy' of one row (N counts the header as line 1 when the table came from a file)."""
    r = table.loc[row]
    line = f"line {int(row) + 2} " if table.attrs.get("from_file") else f"row {row} "
    return f"{line}{shown(r.get('model', '?'))} L{r.get('layer', '?')}H{r.get('head', '?')}"


def shown(name: object) -> str:
    """A name from a user's file as it may be echoed: as is when printable, else escaped (a newline
    in a model name must not print a line of its own)."""
    text = str(name)
    return text if text.isprintable() else ascii(text)


def _reason(finding: Finding, table: pd.DataFrame, row) -> str:
    r = table.loc[row]
    if finding.check in ("nan", "non_finite"):
        col = finding.message.split("'")[1]
        return f"{col} = {r[col]}"
    if finding.check == "category":
        return f"category {r['category']!r} not one of {'/'.join(head_table.CATEGORIES)}"
    if finding.check == "geometry" and "disagree" in finding.message:
        return finding.message
    if finding.check == "geometry":
        spec = _geometry(table, str(r["model"]))
        return f"outside the model's {spec[0]}x{spec[1]} heads" if spec else "outside the model's heads"
    if finding.check == "unknown_model":
        return f"model not in the registry (give its geometry in columns {' and '.join(GEOMETRY_COLUMNS)})"
    if finding.check == "duplicate":
        return "duplicate (model, layer, head)"
    return finding.message


def _geometry(table: pd.DataFrame, model: str) -> tuple[int, int] | None:
    if model in registry.MODELS:
        spec = registry.get(model)
        return spec.n_layers, spec.n_heads
    if all(c in table for c in GEOMETRY_COLUMNS):
        rows = table[table["model"] == model]
        values = {(int(a), int(b)) for a, b in zip(rows["n_layers"], rows["n_heads"])}
        return values.pop() if len(values) == 1 else None
    return None


def _geometry_findings(table: pd.DataFrame, findings: list[Finding]) -> list[Finding]:
    """Replace `unknown_model` findings by geometry checks against the table's own n_layers/n_heads
    columns, when it has them; a registry model whose columns disagree with the registry is an error."""
    if not all(c in table for c in GEOMETRY_COLUMNS):
        return findings
    out = [f for f in findings if f.check != "unknown_model"]
    geometry = table[list(GEOMETRY_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    bad = geometry.isna().any(axis=1) | (geometry <= 0).any(axis=1)
    if bad.any():
        return out + [Finding("type", "error", "n_layers/n_heads must be positive integers", rows=head_table._rows(bad))]
    for model, rows in table.groupby("model", sort=False):
        sizes = {(int(a), int(b)) for a, b in zip(geometry.loc[rows.index, "n_layers"], geometry.loc[rows.index, "n_heads"])}
        if len(sizes) > 1 or (model in registry.MODELS and sizes != {_geometry(table.drop(columns=list(GEOMETRY_COLUMNS)), str(model))}):
            out.append(Finding("geometry", "error", "n_layers/n_heads disagree with the registry or between rows", str(model), tuple(rows.index)))
            continue
        if model in registry.MODELS:
            continue  # head_table.validate checked it against the registry
        n_layers, n_heads = sizes.pop()
        outside = (rows["layer"] < 0) | (rows["layer"] >= n_layers) | (rows["head"] < 0) | (rows["head"] >= n_heads)
        if outside.any():
            out.append(Finding("geometry", "error", f"(layer, head) outside the model's {n_layers}x{n_heads} heads", str(model), head_table._rows(outside)))
    return out


def one_line(origin: str, table: pd.DataFrame, errors: list[Finding]) -> str:
    """Every bad row of `errors` as 'line N model LxHy: reason', joined on one line."""
    described = []
    for finding in errors:
        if not finding.rows:
            described.append(finding.message)
        for row in finding.rows:
            described.append(f"{_cell(table, row)}: {_reason(finding, table, row)}")
    shown = described[:MAX_ROWS_NAMED]
    more = f"; and {len(described) - len(shown)} more" if len(described) > len(shown) else ""
    return f"{len(described)} bad row{'s' * (len(described) != 1)}: " + "; ".join(shown) + more


def _unrecorded_rows(finding: Finding, table: pd.DataFrame, known: list[Known]) -> Finding | None:
    """A finding less the rows a recorded finding of the same check and model lists (cells LxHy), so
    one new bad row is named alone, not with the recorded ones; None when no row is left."""
    cells = set()
    for k in known:
        if (k.check, k.model) == (finding.check, finding.model) and ": " in k.message:
            cells |= set(k.message.split(": ", 1)[1].split(", "))
    if not cells or not finding.rows:
        return finding
    rows = tuple(r for r in finding.rows if f"L{table.loc[r, 'layer']}H{table.loc[r, 'head']}" not in cells)
    return dataclasses.replace(finding, rows=rows) if rows else None


def check(table: pd.DataFrame, origin: str, *, known: list[Known] | None = None) -> list[Finding]:
    """Validate a head table from `origin` (a file or source name); raise InvalidHeadTable (one line)
    on an empty table or any error finding not in `known`; return every finding (for audits)."""
    missing = [c for c in head_table.REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise InvalidHeadTable(origin, f"missing required columns {missing} (the published schema: {', '.join(head_table.REQUIRED_COLUMNS)})")
    if table.empty:
        raise InvalidHeadTable(origin, "no rows (header only)")
    findings = _geometry_findings(table, head_table.validate(table, mode="audit"))
    errors = [f for f in findings if f.severity == "error" and decision_of(f, known or []) is None]
    errors = [e for e in (_unrecorded_rows(f, table, known or []) for f in errors) if e is not None]
    if errors:
        raise InvalidHeadTable(origin, one_line(origin, table, errors), errors)
    return findings


def category_contradictions(table: pd.DataFrame, tau: float = head_table.DEFAULT_TAU) -> list[str]:
    """One line per model whose labelled categories fit neither the signed nor the absolute rule at
    `tau` (e.g. ioi_only with delta_ioi = -0.01): labels its deltas contradict under any convention.
    The claims read the labels as given (transfer.categories = 'labelled'), so a user's file says so."""
    labels = table["category"].to_numpy()
    contradicts = pd.Series(True, index=table.index)
    for rule in ("signed", "absolute"):
        contradicts &= head_table.categorize(table["delta_ioi"], table["delta_anti"], tau, rule) != labels
    lines = []
    for model, rows in table[contradicts].groupby("model", sort=False):
        cells = [f"L{int(r.layer)}H{int(r.head)} ({r.category}; delta_ioi {r.delta_ioi:+.3f}, delta_anti {r.delta_anti:+.3f})"
                 for r in rows.head(MAX_ROWS_NAMED).itertuples()]
        more = f" and {len(rows) - MAX_ROWS_NAMED} more" if len(rows) > MAX_ROWS_NAMED else ""
        heads = "1 head's category contradicts" if len(rows) == 1 else f"{len(rows)} heads' categories contradict"
        lines.append(f"{shown(model)}: {heads} its deltas under both the signed and the absolute tau={tau:g} rule: "
                     f"{', '.join(cells)}{more}; the claims use the labels as given (transfer.categories = 'labelled')")
    return lines


def read_csv(path: str | Path) -> pd.DataFrame:
    """A head-table CSV, every failure naming the file: missing, empty, not UTF-8, not a CSV."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"head table {path}: no such file")
    if path.is_dir():
        raise InvalidHeadTable(str(path), "is a directory, not a CSV file")
    if not path.is_file():  # a FIFO or a device (/dev/zero) would block or never end
        raise InvalidHeadTable(str(path), "is not a regular file (a FIFO, socket or device?)")
    raw = path.read_bytes()
    if not raw.strip():
        raise InvalidHeadTable(str(path), "empty file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidHeadTable(str(path), f"not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})") from None
    try:
        table = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InvalidHeadTable(str(path), f"not a CSV table ({str(err).strip().splitlines()[0]})") from None
    table.attrs["from_file"] = str(path)
    if "model" in table.columns:
        names = table["model"].astype(str)
        padded = names[names != names.str.strip()]
        if len(padded):
            row = padded.index[0]
            raise InvalidHeadTable(
                str(path), f"line {int(row) + 2}: model name {padded.iloc[0]!r} has leading or trailing spaces ({len(padded)} rows)"
            )
    return table


def load_file(path: str | Path, *, known: list[Known] | None = None) -> tuple[pd.DataFrame, list[Finding]]:
    """Read and check a head-table file; the normalised table and its findings."""
    table = read_csv(path)
    findings = check(table, str(path), known=known)
    return head_table.normalize(table), findings


def audit_frame(findings: list[Finding], known: list[Known] | None = None) -> pd.DataFrame:
    """Findings as a table with, for each, whether it is recorded and the decision taken on it."""
    frame = head_table.findings_frame(findings)
    decisions = [decision_of(f, known or []) for f in findings]
    frame["recorded"] = [d is not None for d in decisions]
    frame["decision"] = [d or "NEW: not in fixtures/published/KNOWN_FINDINGS.toml" for d in decisions]
    return frame

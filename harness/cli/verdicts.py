"""`python -m harness verdicts`: claims/verdicts.toml re-recorded from the current evaluation of the
sources given (harness.claims.verdicts), its diff printed first."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.output import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verdicts", help="write claims/verdicts.toml from the current evaluation")
    p.add_argument("--sources", default="published", help="comma-separated sources (cached data only); others' entries are kept")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--check", action="store_true", help="print the diff only; exit 1 when the file would change")
    p.set_defaults(func=run)


def run(args) -> int:
    """Re-record claims/verdicts.toml for the sources given, keeping the entries of every other source
    and of a given source that produced no data; prints the diff first (--check: only the diff)."""
    import difflib

    from harness.claims import checks, sources
    from harness.claims import verdicts

    from harness.files import atomic_write_text, locked

    path = args.out or verdicts.VERDICTS_FILE
    names = args.sources.split(",")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UserError(f"--sources names {', '.join(twice)} more than once")
    for name in names:
        sources.parse(name)
    verdicts.load_file(path)  # an empty or unparsable record is an error before any source is evaluated
    evaluations = []
    for name in names:
        src = sources.load(name, allow_modified=args.allow_modified, compute=False)
        if src.table.empty:
            print(f"note: {name} produced no data; its recorded verdicts are kept ({'; '.join(src.notes)})", file=sys.stderr)
            continue
        evaluations.append(checks.evaluate_source(src))
    with locked(path):  # read, merge and write as one step: a concurrent `verdicts` run waits
        old = path.read_text() if path.is_file() else ""
        new = verdicts.merged(evaluations, verdicts.load_verdicts(path), verdicts.load_coverage(path))
        diff = list(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"{path} (recorded)", f"{path} (new)"))
        if not diff:
            print(f"{path}: unchanged", file=sys.stderr)
            return 0
        sys.stdout.writelines(diff)
        if args.check:
            print(f"{path}: would change (diff above); run without --check to write it", file=sys.stderr)
            return 1
        atomic_write_text(path, new)  # temporary file, fsync, rename: a kill leaves the old file whole
    print(f"written {path} (diff above)", file=sys.stderr)
    return 0

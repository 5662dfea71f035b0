"""`python -m harness audit`: the findings on a source's head table with their recorded decision."""

from __future__ import annotations

import argparse
import sys

from harness.cli import args as args_types
from harness.cli import common
from harness.cli.output import _emit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="findings on a source's head table")
    args_types.add_source(p)
    args_types.add_output(p, "markdown", out=False)
    p.add_argument("--strict", action="store_true", help="exit 1 when an error finding exists")
    p.set_defaults(func=run)


def run(args) -> int:
    """Findings with their recorded decision (published: fixtures/published/KNOWN_FINDINGS.toml).
    --strict fails on any finding that is not recorded: the shipped table passes, a new defect does not."""
    from harness.data import validation

    src = common.load_source(args)
    known = validation.known_findings() if args.source == "published" else []
    frame = validation.audit_frame(src.findings, known)
    _emit(frame, args.format, None)
    new = int((~frame["recorded"]).sum())
    if args.strict and new:
        print(f"error: {new} finding(s) of {args.source} not recorded in fixtures/published/KNOWN_FINDINGS.toml", file=sys.stderr)
        return 1
    return 0

"""Command line: `python -m harness <command>` (also installed as `ioi-claims`).

  transfer   pair metrics of the seed's six pairs (csv or markdown), from a source
  report     the claims verdict table (and optional Markdown file and PNG plot)
  audit      findings on a source's head table (geometry, categories, duplicates, ...)
  verdicts   write claims/verdicts.toml from the current evaluation (after reviewing a flip)
  scores     head table of one model computed from its weights (cached)
  models     the model registry: geometry, and whether each model's weights are on this machine
  robustness share of a grid of analyst's choices (claims/robustness.toml) where each check holds
  bench      speed of the head-scan algorithms on SmolLM2, as ratios
  faithfulness  f of a zoo model's top-k head sets against random sets; --transfer: causal transfer
"""

from __future__ import annotations

import argparse
import sys
import traceback

from harness.cli import (
    audit, bench, controls, faithfulness, leave_one_out, models, report, robustness, role_transfer, roles, scores, transfer,
    verdicts, zoo,
)
from harness.cli.output import UserError, one_line

# Each command's module declares its parser (`add_parser(sub)`, which sets `func` to its `run(args)`);
# the order is the order of `python -m harness --help`.
COMMANDS = (transfer, report, audit, verdicts, zoo, scores, leave_one_out, robustness, faithfulness, models, bench, roles,
            role_transfer, controls)

GLOBAL_FLAGS = {
    "--debug": "show the traceback of an error instead of its one line",
    "--allow-modified-fixtures": "run on published tables whose sha256 no longer matches (reports say so at the top)",
}
EXIT_USER_ERROR = 2  # bad input or arguments (argparse's usage errors exit 2 too)
BUG_HINT = ("this is a bug of the harness, not of your input: please report it with the command line and "
            "the traceback above")
EXIT_BUG = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command. The global flags are accepted before the command and after it: on
    a command's parser they default to SUPPRESS, so one given before the command is not reset, and
    their help is that of `python -m harness --help` (a command's help lists its own options)."""
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    _add_global_flags(parser, default=False, shown=True)
    for command_parser in sub.choices.values():
        _add_global_flags(command_parser, default=argparse.SUPPRESS, shown=False)
    return parser


def _add_global_flags(parser: argparse.ArgumentParser, default, shown: bool) -> None:
    for flag, text in GLOBAL_FLAGS.items():
        dest = "allow_modified" if flag == "--allow-modified-fixtures" else "debug"
        parser.add_argument(flag, action="store_true", dest=dest, default=default, help=text if shown else argparse.SUPPRESS)


def _user_errors() -> tuple[type[BaseException], ...]:
    """What a person can fix: a refusal of bad input (harness.errors.UserError and the module error
    classes derived from it: DesignError, ThresholdsError, WeightsNotFound, FixtureModified, ...) and
    the environment's own errors (OSError: a path, a permission, a full disk). Any other exception is
    a bug of the harness: it ends in its traceback and a line asking to report it."""
    return (UserError, OSError)


def main(argv: list[str] | None = None) -> int:
    """Run a command. Global flags (before or after the command): --debug, --allow-modified-fixtures. A user
    error (bad input, unknown model or source, a path that cannot be written, missing weights, a
    modified fixture: a harness.errors.UserError, or an OSError of the environment) ends in one line on
    stderr and exit 2; --debug shows the traceback. Any other exception is a bug: its traceback and a
    line asking to report it (exit 1). Ctrl-C ends
    in one line and exit 130: every file is written atomically, so none is left half-written."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return _guarded(lambda: args.func(args), args.debug)


def _guarded(run, debug: bool) -> int:
    """`run()`'s exit code; a user error as one line (exit 2), Ctrl-C as one line (exit 130), any other
    exception (a bug) as its traceback and a line asking to report it (exit 1)."""
    try:
        return run()
    except KeyboardInterrupt:
        if debug:
            raise
        print("error: interrupted (Ctrl-C); no output file was left half-written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _user_errors() as err:
        if debug:
            raise
        print(f"error: {one_line(err)} (--debug for the traceback)", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception:
        if debug:
            raise
        traceback.print_exc()
        print(f"error: {BUG_HINT}", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())

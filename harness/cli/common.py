"""What several commands do with their parsed options before the work starts: the user's design
(`design`), claims/thresholds.toml with the flags' overrides (`settings`), a source loaded with its
notes (`load_source`), the check of a scan's --workers / --executor (`check_scan`) and the note that a
--device went unused (`note_unused_device`)."""

from __future__ import annotations

import sys

from harness.claims import thresholds
from harness.cli.output import UserError
from harness.scoring.methods import DEFAULT_ALGORITHM


def design(args):
    """The user's design (--design FILE), its sources added to the source list; None without one."""
    if not getattr(args, "design", None):
        return None
    from harness.claims import sources

    added = sources.use_design(args.design)
    return sources.design_of(added[0])


def settings(args) -> tuple[thresholds.Thresholds, list[str]]:
    """claims/thresholds.toml with the [transfer] values a flag overrides, and one note per override
    (printed on stderr and in the Markdown report, so an output never hides that it left the file)."""
    from harness.report.render import settings_notes

    loaded = thresholds.load()
    overrides = {name: getattr(args, name) for name in ("k", "ties") if getattr(args, name) is not None}
    try:
        loaded = loaded.with_transfer(**overrides) if overrides else loaded
    except thresholds.ThresholdsError as err:
        flags = " ".join(f"--{name} {value}" for name, value in overrides.items())
        raise UserError(f"{flags}: {str(err).split(': ', 1)[-1]}") from None
    notes = settings_notes(loaded, overrides)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return loaded, notes


def load_source(args, name: str | None = None, *, need_data: bool = True):
    """A source by name (default: --source), its notes on stderr; UserError when it has no head table."""
    from harness.claims import sources

    user_design = design(args)
    single, name = name is None, name or args.source  # report mixes its sources; transfer and audit read one
    if single and user_design is not None and not name.startswith(f"{sources.FILE}:") and sources.design_of(name).path != user_design.path:
        theirs = ", ".join(f"{user_design.name}:{m}" for m in sources.design_methods(user_design))
        raise UserError(f"--design {args.design} does not apply to source {name} (it uses the {sources.design_of(name).name} design): "
                        f"use --source {theirs.split(', ')[0]} (the design's sources: {theirs}) or file:PATH, or drop --design")
    src = sources.load(name, allow_modified=args.allow_modified, compute=not args.no_compute, device=args.device)
    for note in src.notes:
        print(f"note: {note}", file=sys.stderr)
    if need_data and src.table.empty:
        raise UserError(f"source {name} has no head table: {'; '.join(src.notes) or 'nothing stored'}")
    return src


def check_scan(args) -> None:
    """--workers and --executor: a local scan uses at most this machine's cores, and only the exact
    batched scan is sharded (attribution and naive scans run in this process)."""
    import os

    algorithm = getattr(args, "algorithm", DEFAULT_ALGORITHM)
    if algorithm != "batched" and (args.workers != 1 or args.executor != "local"):
        raise UserError(f"--workers/--executor shard the exact batched scan only; --algorithm {algorithm} runs in this process")
    if args.executor == "ray":
        from harness.runs.sharded_scan import reachable

        reachable(args.ray_address)  # an unreachable cluster is one line now, not a hang later
    cores = os.cpu_count() or 1
    if args.executor == "local" and args.workers > cores:
        raise UserError(f"--workers {args.workers} exceeds the {cores} CPU cores here (each worker loads the model); "
                        f"use at most {cores}, or --executor ray on a cluster")


def note_unused_device(device: str, entries: list[str]) -> None:
    """Say so when --device was given but every table came from a cache (nothing ran on it)."""
    if device != "auto" and entries and not any(e.startswith("computed now") for e in entries):
        print(f"note: --device {device} not used: the scores came from {'; '.join(entries)} (--refresh recomputes)", file=sys.stderr)

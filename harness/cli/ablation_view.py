"""`python -m harness report --ablation-view`: each zoo check under zero, mean and counterfactual side
by side, the per-claim summary, the agreement between the methods per model and each table's cost
(harness.report.ablation_view), from stored tables only."""

from __future__ import annotations

import sys

from harness.cli import common
from harness.cli.output import UserError

ABLATION_VIEW_COMMAND = "python -m harness report --ablation-view --markdown docs/zoo.md --plot docs/zoo_ablations.png"


def run(args) -> int:
    """`report --ablation-view`: each zoo check under zero, mean and counterfactual, the per-claim
    summary, the agreement between methods per model and each table's cost, from stored tables only."""
    from harness.claims import checks as claims
    from harness.claims import sources
    from harness.files import atomic_write_text
    from harness.models import registry
    from harness.report import ablation_view as view

    settings, _ = common.settings(args)
    methods = view.VIEW_METHODS
    results: dict = {}
    for method in methods:
        src = sources.load(f"zoo:{method}", allow_modified=args.allow_modified, compute=False)  # never a scan
        results[method] = claims.evaluate_source(src, settings) if len(src.table) else "; ".join(src.notes) or "no head table"
    tables, metas = stored_zoo_tables(methods)
    grid = view.outcome_grid(results)
    summary = view.claim_summary(grid, methods)
    agreement = view.agreement_frame(tables, methods)
    cost = view.cost_frame(metas, {model: registry.get(model).n_layers for model in metas})
    notes = view.missing_notes(tables, methods)
    print(view.terminal_grid(grid, methods))
    for title, frame in (("per claim", summary), ("agreement between ablations", agreement), ("cost (seconds)", cost)):
        print(f"\n{title}:\n{view.terminal_frame(frame)}")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    figure = None
    if args.plot:
        path = view.plot_grid(grid, methods, args.plot)
        print(f"ablation grid written to {path}", file=sys.stderr)
        figure = path.name if args.markdown and path.parent.resolve() == args.markdown.parent.resolve() else str(path)
    if args.markdown:
        section = view.markdown_section(grid, summary, agreement, cost, methods, ABLATION_VIEW_COMMAND, notes, figure)
        page = args.markdown.read_text() if args.markdown.exists() else None
        try:
            text = view.spliced(page, section)
        except ValueError as err:
            raise UserError(f"--markdown {args.markdown}: {err}; add them where the view belongs, or name a new file") from None
        atomic_write_text(args.markdown, text)
        print(f"ablation view written to {args.markdown}", file=sys.stderr)
    return 0


def stored_zoo_tables(methods) -> tuple[dict, dict]:
    """model -> method -> the zoo's stored scores (layer, head, delta) and their meta.json, None when absent."""
    from harness.data import designs
    from harness.runs.zoo import zoo_entry

    tables: dict = {}
    metas: dict = {}
    zoo = designs.builtin("zoo")
    for model in zoo.models:
        for method in methods:
            entry = zoo_entry(zoo.spec_of(model), method)
            tables.setdefault(model, {})[method] = None if entry is None else entry[0]
            metas.setdefault(model, {})[method] = None if entry is None else entry[1]
    return tables, metas

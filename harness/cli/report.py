"""`python -m harness report`: the claims verdict table of the sources given (harness.report.render's
`Report`, the one the pytest plugin prints), its robustness beside each verdict, and the files asked
for (Markdown report, plots, the roles section); `--ablation-view` prints harness.cli.ablation_view
instead."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli import ablation_view
from harness.cli import args as args_types
from harness.cli import common
from harness.cli.output import UserError, one_line

REPORT_SOURCES = "published,zoo:mean,zoo:zero,recomputed:mean"  # report's default; with --design: the design's sources


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="claims verdict table")
    args_types.add_source(p)
    p.set_defaults(source=REPORT_SOURCES)
    args_types.add_transfer_overrides(p)
    p.add_argument("--markdown", type=Path, help="also write the Markdown report here")
    p.add_argument("--plot", type=Path, help="also draw the six pairs as a PNG here")
    p.add_argument("--zoo-plot", type=Path, help="also draw the zoo's pairs beside the published ones, with noise floors")
    p.add_argument("--robustness-heatmap", type=Path, help="also draw the robustness heatmap here (linked from the Markdown report)")
    p.add_argument("--roles-section", type=Path, metavar="PATH",
                   help="also write the section on heads matched by role (Markdown, figures beside it) for the sources with role tables")
    p.add_argument("--ablation-view", action="store_true",
                   help="instead: each zoo check under zero, mean and counterfactual side by side, per-claim summary, agreement "
                        "between the methods per model and each table's cost, from stored tables (no scan); --markdown writes it "
                        "between its markers in an existing page (or a new file), --plot draws the grid")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.claims import checks as claims
    from harness.claims import robustness, sources
    from harness.report import render as report

    if args.ablation_view:
        if args.source != REPORT_SOURCES or args.design or args.zoo_plot or args.robustness_heatmap or args.roles_section:
            raise UserError("--ablation-view reads the zoo's sources zoo:zero, zoo:mean and zoo:counterfactual; it takes "
                            "--markdown and --plot only (drop --source, --design, --zoo-plot, --robustness-heatmap, --roles-section)")
        return ablation_view.run(args)
    settings, notes = common.settings(args)
    names = args.source.split(",")
    if args.design:
        added = list(sources.use_design(args.design))
        names = added if args.source == REPORT_SOURCES else names
        args.source = ",".join(names)
    for name in names:
        sources.parse(name)  # a misspelled source is a usage error before anything runs
    preface = sources.preface(names)
    for line in preface:
        print(line)
    results: dict[str, claims.Evaluation | str] = {}
    failed = []
    for name in names:
        # A broken source fails alone (one line naming it); the other sources' verdicts still print.
        try:
            src = common.load_source(args, name, need_data=False)
            results[name] = claims.evaluate_source(src, settings) if len(src.table) else "; ".join(src.notes) or "no head table"
        except Exception as err:
            if args.debug:
                raise
            failed.append(name)
            results[name] = f"FAILED: {one_line(err)}"
            print(f"error: source {name} failed: {one_line(err)}", file=sys.stderr)
    # Robustness beside each verdict: the table-level grid of claims/robustness.toml around the file's
    # settings (a --k / --ties override moves the verdict, not the grid), one sweep for notes and heatmap.
    built = report.build_report(results, settings, preface=preface, notes=notes)
    frame = built.verdicts
    print(report.terminal_table(frame))
    print("\n" + report.markdown_table(built.sources))
    print("\nreference model: " + "\n  ".join(built.reference))
    n_ok = int((frame["verdict"] == "reproduced").sum())
    print(f"\n{n_ok}/{len(frame)} checks reproduced over sources {args.source}", file=sys.stderr)
    heatmap = None
    if args.robustness_heatmap and len(built.sweep.long):
        from harness.report.robustness_plot import plot_heatmap

        shares = robustness.marginal_shares(built.sweep.long, built.sweep.choices)
        path = plot_heatmap(shares, args.robustness_heatmap, "Share of the table-level grid where each check holds")
        print(f"robustness heatmap written to {path}", file=sys.stderr)
        heatmap = path.name if args.markdown and path.parent == args.markdown.parent else str(path)
    for line in report.write_files(built, markdown=args.markdown, plot=args.plot, heatmap=heatmap, zoo_plot=args.zoo_plot):
        print(line, file=sys.stderr)
    if args.roles_section:
        write_roles_section(results, args.roles_section)
    from harness.claims import verdicts

    lost = verdicts.coverage_problems({name: verdicts.models_of(ev) for name, ev in results.items() if name not in failed})
    for line in lost:
        print(f"error: {line}", file=sys.stderr)
    if failed:
        print(f"error: {len(failed)} source(s) failed: {', '.join(failed)} (verdicts of the others are above)", file=sys.stderr)
    return 1 if failed or lost else 0


def write_roles_section(results: dict, out: Path) -> None:
    """The report's roles section (harness.report.roles_section) for the evaluated sources that carry
    role tables; the others are named on stderr."""
    from harness.report.roles_section import write_section

    with_roles = [name for name, ev in results.items() if not isinstance(ev, str) and ev.extras.get("roles")]
    without = [name for name in results if name not in with_roles]
    if not with_roles:
        print(f"roles section not written: no source of {', '.join(results)} has role tables "
              "(`python -m harness roles` computes them)", file=sys.stderr)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    path = write_section(with_roles, out, out.parent)
    print(f"roles section written to {path} ({', '.join(with_roles)}"
          + (f"; no role tables: {', '.join(without)})" if without else ")"), file=sys.stderr)

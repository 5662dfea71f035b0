"""Do the zoo's verdicts survive weight noise? Each model's table replaced by its re-quantised twin's.

    python benchmarks/zoo_verdicts_on_twins.py [--method mean]

For each zoo model whose perturbed twin (registry.ZOO_WEIGHTS_TWIN) has a stored table under the
method, the zoo source's combined head table is re-evaluated with that model's deltas replaced by its
twin's (same prompts, same scan; categories recomputed with the zoo's tau and signed rule), and the
pair claims W1, X1, X2, X3, T1-T3 are printed beside the original verdicts. A verdict that flips when
one model's weights are re-quantised rests on weight noise. Reads stored scores only; runs no model.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd


def swapped_table(table: pd.DataFrame, model: str, scores: pd.DataFrame) -> pd.DataFrame:
    from harness.data.head_table import DEFAULT_TAU, categorize, with_derived_columns

    rows = table[table["model"] == model].reset_index(drop=True)
    merged = rows[["layer", "head"]].merge(scores[["layer", "head", "delta"]], on=["layer", "head"], validate="one_to_one")
    rows = rows.assign(delta_ioi=merged["delta"].to_numpy())
    rows = with_derived_columns(rows)
    rows["category"] = categorize(rows["delta_ioi"], rows["delta_anti"], DEFAULT_TAU, "signed")
    return pd.concat([table[table["model"] != model], rows[table.columns]], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    from harness.claims import checks, sources
    from harness.data.designs import builtin
    from harness.models import registry
    from harness.runs.zoo import zoo_entry

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="mean")
    args = parser.parse_args(argv)
    src = sources.load(f"zoo:{args.method}")
    claims = ("W1", "X1", "X2", "X3", "T1", "T2", "T3")
    evaluations = {"original": checks.evaluate(src.table, src.name)}
    for model in builtin("zoo").models:
        entry = zoo_entry(registry.get(model), args.method, weights=registry.ZOO_WEIGHTS_TWIN)
        if entry is None:
            print(f"{model}: no {args.method} table of its twin; skipped", file=sys.stderr)
            continue
        evaluations[f"{model} -> twin"] = checks.evaluate(swapped_table(src.table, model, entry[0]), src.name)
    print("| table | check | value | holds | measured |\n|---|---|---|---|---|")
    for label, ev in evaluations.items():
        for (claim, variant), check in ev.checks.items():
            if claim in claims:
                print(f"| {label} | {claim}[{variant}] | {check.value:.3f} | {check.holds} | {check.measured} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

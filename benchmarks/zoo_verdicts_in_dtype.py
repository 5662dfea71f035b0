"""The zoo's verdicts with one model's table taken in another compute dtype.

    python benchmarks/zoo_verdicts_in_dtype.py --model qwen2.5-coder-1.5b --dtype float32 --method mean

The committed zoo tables of the Qwens are bfloat16 scans (claims/designs/zoo.toml). Once a table of the
same prompts in another dtype exists in the user cache (`python -m harness zoo --model M --method X
--dtype float32`, resumable), this prints the claims report of `zoo:<method>` with that table in place of
the committed one, so a verdict that hinges on the compute dtype shows up as a difference between this
report and `python -m harness report --source zoo:<method>`. Nothing is written.
"""

from __future__ import annotations

from harness.models import registry
import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from harness.data.designs import builtin
    from harness.cli.main import main as harness_main
    from harness.runs.recompute import zoo_run
    from harness.runs.zoo import zoo_entry

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=builtin("zoo").models)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--method", default="mean")
    args = parser.parse_args(argv)
    builtin("zoo").model_run.setdefault(args.model, {})["dtype"] = args.dtype  # this process only
    if zoo_entry(registry.get(args.model), args.method) is None:
        run = zoo_run(args.model, args.method)
        print(f"no {args.dtype} scores of {args.model} ({run.n_prompts} zoo prompts, {args.method}) in the user cache: "
              f"python -m harness zoo --model {args.model} --method {args.method} --dtype {args.dtype}", file=sys.stderr)
        return 2
    return harness_main(["report", "--source", f"zoo:{args.method}"])


if __name__ == "__main__":
    sys.exit(main())

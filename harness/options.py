"""Options shared by the command line (`python -m harness ...`) and the pytest plugin (`--claims-*`),
each declared once: name, default, help, validation. `add_argparse` and `add_pytest` generate the flags
(the pytest ones with the `--claims-` prefix), the way pytest-benchmark declares its display options
once for its plugin and its CLI. Imports nothing from the harness."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Any, Callable

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def device(value: str) -> str:
    """A device name: auto (CUDA when available, else the CPU), cpu, cuda, cuda:N or mps."""
    if not DEVICE_PATTERN.match(value):
        raise argparse.ArgumentTypeError(f"invalid device {value!r}: use auto, cpu, cuda, cuda:N or mps")
    return value


@dataclass(frozen=True)
class Option:
    name: str  # the CLI flag without dashes; the pytest flag is --claims-<name>
    help: str
    default: Any = None
    type: Callable[[str], Any] | None = None
    flag: bool = False  # store_true
    metavar: str | None = None

    def kwargs(self) -> dict[str, Any]:
        if self.flag:
            return {"action": "store_true", "help": self.help}
        out = {"default": self.default, "help": self.help}
        if self.type is not None:
            out["type"] = self.type
        if self.metavar:
            out["metavar"] = self.metavar
        return out


OPTIONS: dict[str, Option] = {
    o.name: o
    for o in [
        Option("device", "device of scans (recomputed and design sources): auto | cpu | cuda | cuda:N | mps", "auto", device, metavar="DEVICE"),
        Option("design", "a pair design file (claims/designs/*.toml shows the format): adds its sources NAME:mean and NAME:zero "
               "(missing tables are scanned unless no-compute is given) and checks file: sources on it", metavar="FILE"),
        Option("no-compute", "recomputed and design sources: cached tables only, never run a model", flag=True),
    ]
}


def add_argparse(parser: argparse.ArgumentParser, *names: str) -> None:
    for name in names:
        parser.add_argument(f"--{name}", **OPTIONS[name].kwargs())


def add_pytest(group: Any, *names: str, prefix: str = "--claims-") -> None:
    """Add the options to a pytest option group; a value is validated like on the command line."""
    for name in names:
        option = OPTIONS[name]
        kwargs = option.kwargs()
        if option.type is not None:
            kwargs["type"] = _pytest_type(option.type)
        group.addoption(f"{prefix}{name}", **kwargs)


def _pytest_type(check: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(value: str) -> Any:
        try:
            return check(value)
        except argparse.ArgumentTypeError as err:
            raise ValueError(str(err)) from None  # pytest's parser reports a ValueError as a usage error

    convert.__name__ = check.__name__  # pytest says "invalid <name> value: ..."
    return convert

"""The scan benchmark's table as text (`python -m harness bench`): one row per timed scan with its
comparisons (harness.runs.bench.comparison_rows), the naive loop's layer sample, the matmul peaks
and the multiply-add bound of an exact scan."""

from __future__ import annotations

from typing import Any

from harness.runs.bench import Entry, comparison_rows, find
from harness.scoring.scan_flops import ScanFlops


def flops_lines(flops: dict[str, ScanFlops], measured: float) -> list[str]:
    """The FLOP comparison, as report lines: `measured` is the timed naive/batched ratio."""
    run, flat = flops["as_run"], flops["unpadded"]
    return [
        (
            f"multiply-adds (per-head work, scanned heads; shared clean/mean forwards left out): "
            f"naive {run.naive:.3e}, batched {run.ours:.3e}, exact lower bound {run.lower_bound:.3e}"
        ),
        (
            f"naive / batched       measured {measured:5.1f}x   FLOPs {run.naive_over_ours:5.2f}x "
            f"(unpadded {flat.naive_over_ours:.2f}x)"
        ),
        (
            f"naive / lower bound                   FLOPs {run.naive_over_lower_bound:5.2f}x "
            f"(unpadded {flat.naive_over_lower_bound:.2f}x)"
        ),
        (
            "an exact scan cannot beat the naive loop by more than the naive / lower-bound FLOP ratio, "
            "unless the naive loop is less efficient per FLOP"
        ),
    ]



def _fmt(value: Any, spec: str, empty: str = "-") -> str:
    return empty if value is None else format(value, spec)


def report(entries: list[Entry], context: dict[str, Any]) -> str:
    """The bench's table and notes, as text."""
    rows = comparison_rows(entries, context["peak"])
    layers, naive_layers = context["layers"], context["naive_layers"]
    prompts = context["prompts"]
    g = context["geometry"]
    head = (f"{'scan':<12} {'dtype':<9} {'heads':>5} {'seconds':>9} {'vs naive':>8} {'GMAC/s':>7} {'of peak':>7}  "
            f"{'max|d-ref|':>10} {'Spearman':>8} {'top-20':>6} {'speed':>6}  compared with")  # fmt: skip
    lines = [
        f"model {context['model']} ({context['weights']} weights; {g.n_layers} layers x {g.n_heads} heads, d_head {g.d_head}, "
        f"{g.kv_heads} kv heads, {'gated' if g.gated else 'plain'} MLP {g.d_mlp}), {len(prompts)} {context['style']} "
        f"prompts, method {entries[0].result.method}, layers {_span(layers)}",
        "",
        head,
    ]
    for r in rows:
        lines.append(
            f"{r['scan']:<12} {r['dtype']:<9} {r['heads']:>5} {r['seconds']:>8.2f}{'*' if r['sampled'] else ' '} "
            f"{_fmt(r['vs_naive'], '7.2f')}x {_fmt(r['gmacs'], '7.1f'):>7} {_fmt(r['share_of_peak'], '6.0%'):>7}  "
            f"{_fmt(r['max_diff'], '10.2e'):>10} {_fmt(r['spearman'], '8.3f'):>8} {r['top_k'] or '-':>6} "
            f"{_fmt(r['speed_vs_f32'], '5.2f') + ('x' if r['speed_vs_f32'] else ''):>6}  {r['against'] or ''}"
        )
    if any(r["sampled"] for r in rows):
        timed = len(naive_layers) * g.n_heads
        lines.append(
            f"* timed on {timed} of {len(layers) * g.n_heads} heads (layers {_span(naive_layers)}) and scaled "
            f"x{len(layers) / len(naive_layers):.2f}: each head costs one full forward whatever its layer; "
            f"max|d-ref| over the timed heads"
        )
    if len(layers) < g.n_layers and find(entries, "attribution"):
        lines.append(f"attribution scores all {g.n_layers * g.n_heads} heads in one pass; its 'vs naive' compares that "
                     f"with the naive loop on layers {_span(layers)} only")  # fmt: skip
    lines.append("")
    lines.append("matmul peak in this run (torch.matmul, multiply-adds/s, the model's shapes at "
                 f"{next(iter(context['shapes'].values()))[0]} tokens, {context['threads']} threads):")  # fmt: skip
    for dtype, peak in context["peak"].items():
        shapes = ", ".join(f"{name} {rate / 1e9:.0f}" for name, rate in peak["by_shape"].items())
        lines.append(f"  {dtype:<9} {peak['best'] / 1e9:7.1f} GMAC/s (best of: {shapes})")
    naive = find(entries, "naive")
    batched = find(entries, "batched")
    if naive and batched:
        lines += ["", *flops_lines(context["flops"], naive.seconds / batched.seconds)]
    lines += [
        "",
        f"clean logit diff {batched.result.clean_logit_diff:.3f}, accuracy {batched.result.clean_accuracy:.3f} "
        f"(batched float32)" if batched else "",
    ]
    lines += [""] + [f"{k:<7} {v}" for k, v in context["machine"].items() if k != "dtype"]
    return "\n".join(lines)


def _span(layers: list[int]) -> str:
    if layers and layers == list(range(layers[0], layers[-1] + 1)) and len(layers) > 2:
        return f"{layers[0]}-{layers[-1]}"
    return ",".join(map(str, layers))

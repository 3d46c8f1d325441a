"""The printed tables: the speed table (one row per model), the ``--quality`` and the ``--book`` summaries."""

from __future__ import annotations

import math
from typing import Any

from fundamentalml.tables import text_row, text_table

TRAINING_ONLY_NOTE = (
    "Training only: the project path runs the package's train()/fit() with limit_val_batches=0, so no "
    "validation loop is timed; the bare loop has none either."
)
NOT_MEASURED = "n/a"
COLUMNS = (
    "Columns: img/s proj = the package's training call (training.train -> fit, a registry budget) on the real data; "
    "img/s bare = the same model class, optimisers (make_optimizers) and batches in a plain loop over the model's "
    "public batch_loss/update_batch; proj/bare = time per image ratio (target: at most); epoch/bare = the same for "
    "fit's training epoch alone, and fixed s = the rest of fit's time (Trainer set-up and teardown: a cost per call, "
    "not per step; fit reads the dataset before its clock starts); data x = time per image of the bare loop fed by "
    "torchvision's per-image ToTensor pipeline / fed by the in-memory DataModule (target: at least); GFLOP/img = "
    "FLOPs of one training step per image; % fp32 = FLOP/s achieved by the project path / the fp32 matmul rate; "
    "RSS MB = peak resident memory of the measuring process after the project path; full est. = project time per "
    "step x the full profile's steps; with --bf16, bf16/fp32 = project time at bf16-mixed / at fp32, and % bf16 = "
    "its FLOP/s / the bf16 matmul rate."
)


def fmt(value: Any, spec: str, width: int) -> str:
    """``value`` formatted and right-aligned; ``-`` for a missing or non-finite number."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-".rjust(width)
    return format(value, spec).rjust(width)


def target(relation: str, value: float | None, spec: str, width: int) -> str:
    """A target such as ``<=1.15``, right-aligned; ``-`` when there is none."""
    return ("-" if value is None else f"{relation}{value:{spec}}").rjust(width)


def duration(seconds: float | None) -> str:
    """Minutes below an hour, hours above."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


def add_peak_shares(result: dict[str, Any], peaks: dict[str, float | None]) -> None:
    """Achieved FLOP/s as a percentage of the matmul rates measured in this run (fp32 run vs fp32 matmul, bf16-mixed
    run vs bf16 matmul, the latter only where a bf16 rate was measured and the bf16 path ran)."""
    achieved = result["achieved_gflops"] * 1e9
    result["pct_fp32_peak"] = 100.0 * achieved / peaks["fp32"] if peaks.get("fp32") else None
    b16 = result.get("bf16")
    result["pct_bf16_peak"] = (
        100.0 * result["flops_per_image"] * b16["images_per_s"] / peaks["bf16"] if b16 and peaks.get("bf16") else None
    )


def course_line(report: dict[str, Any]) -> str | None:
    """The ``full`` budgets of every model measured, together: their training FLOPs, the least time they need at
    this run's matmul rates (a floor no implementation beats: every FLOP at the rate of an ideal 2048x2048 matmul),
    and the sum of the estimates above, at fp32 and, where measured, at bf16. ``None`` for fewer than two models."""
    rows = [r for r in report["models"].values() if "error" not in r and "flops" in r.get("full_profile", {})]
    if len(rows) < 2:
        return None
    peaks = report["peaks"]
    flops = sum(r["full_profile"]["flops"] for r in rows)
    fp32 = sum(r["full_profile"]["estimate_s"] for r in rows)
    line = (f"All {len(rows)} models' full budgets together: {flops / 1e12:,.0f} TFLOP of training; at the fp32 matmul "
            f"rate at least {duration(flops / peaks['fp32'])}")
    if peaks.get("bf16"):
        line += f", at the bf16 rate at least {duration(flops / peaks['bf16'])}"
    line += f"; the full est. column sums to {duration(fp32)} at fp32"
    if peaks.get("bf16") and all(r.get("bf16") for r in rows):
        bf16 = sum(r["full_profile"]["estimate_s"] * r["bf16"]["ratio_bf16_over_fp32"] for r in rows)
        line += f", {duration(bf16)} at bf16 ({100 * flops / bf16 / peaks['bf16']:.0f}% of the bf16 rate)"
    return line + "."


def bf16_line(report: dict[str, Any]) -> str:
    """What happened to the bf16 columns: measured, skipped (and why), or not asked for."""
    settings = report["settings"]
    if report.get("bf16_skipped"):
        return f"bf16: skipped for every model: {report['bf16_skipped']}."
    if settings.get("bf16"):
        return "bf16: measured for every model (the project path again at precision bf16-mixed)."
    return "bf16: not measured (add --bf16)."


# The speed table's columns: (header, width); the first is left-aligned, the rest right-aligned.
COLUMNS_TABLE = (
    ("model", 11), ("img/s proj", 11), ("img/s bare", 11), ("proj/bare", 10), ("target", 8), ("epoch/bare", 11),
    ("fixed s", 8), ("data x", 8), ("target", 8), ("GFLOP/img", 10), ("% fp32", 8), ("RSS MB", 8), ("full est.", 11),
)
COLUMNS_BF16 = (("bf16/fp32", 10), ("% bf16", 8))


def table_columns(bf16: bool) -> tuple[tuple[str, int], ...]:
    """The speed table's ``(header, width)`` columns, with the bf16 ones when bf16 was measured."""
    return COLUMNS_TABLE + (COLUMNS_BF16 if bf16 else ())


def _cells(name: str, r: dict[str, Any], bf16: bool) -> list[str]:
    """One model's cells, in :func:`table_columns` order, unpadded."""
    def f(value: Any, spec: str) -> str:
        return fmt(value, spec, 0)

    cells = [
        name, f(r["project"]["images_per_s"], ",.0f"), f(r["bare"]["images_per_s"], ",.0f"),
        f(r["ratio_project_over_bare"], ".3f"), target("<=", r["ratio_target"], ".2f", 0),
        f(r["ratio_epoch_over_bare"], ".3f"), f(r["fit_fixed_s"], ".2f"),
        NOT_MEASURED if r.get("data_path_skipped") else f(r["data_path_speedup"], ".2f"),
        target(">=", r["data_path_target"], ".1f", 0), f(r["gflops_per_image"], ".4f"), f(r.get("pct_fp32_peak"), ".1f"),
        f(r["peak_rss_mb_project"], ".0f"), duration(r["full_profile"]["estimate_s"]),
    ]
    if bf16:
        cells += [f((r.get("bf16") or {}).get("ratio_bf16_over_fp32"), ".2f"), f(r.get("pct_bf16_peak"), ".1f")]
    return cells


def _line(cells: list[str], columns: tuple[tuple[str, int], ...]) -> str:
    return text_row(cells, [w for _, w in columns])  # the package's table formatter, fixed-width text


def format_table(report: dict[str, Any]) -> str:
    """The readable summary: one row per model, the targets beside the ratios, then the machine and the notes."""
    bf16 = any(r.get("bf16") for r in report["models"].values())
    columns = table_columns(bf16)
    head = _line([h for h, _ in columns], columns)
    lines = [head, "-" * len(head)]
    skipped_data = []
    for name, r in report["models"].items():
        if "error" in r:
            lines.append(f"{name:<11}  ERROR: {r['error']}")
            continue
        if r.get("data_path_skipped"):
            skipped_data.append(f"{name} ({r['data_path_skipped'].split(': ', 1)[-1]})")
        lines.append(_line(_cells(name, r, bf16), columns))
    m, peaks = report["machine"], report["peaks"]
    lines += [
        "",
        f"Machine: {m['cpu_model']}, {m['torch_threads']} torch threads of {m['logical_cpus']} CPUs, capability "
        f"{m['cpu_capability'] or '?'}, AVX-512 BF16 {'yes' if m['avx512_bf16'] else 'no'}, AMX {'yes' if m['amx'] else 'no'}"
        + (f", GPU {m['cuda']}" if m.get("cuda") else "")
        + f"; torch {m['torch']}, Lightning {m['pytorch_lightning']}; load average {m.get('load_average')} at start, "
        f"{report.get('load_average_end')} at end.",
        f"Matmul reference ({peaks['matmul_n']}x{peaks['matmul_n']}): fp32 {peaks['fp32'] / 1e9:.1f} GFLOP/s"
        + (f", bf16 {peaks['bf16'] / 1e9:.1f} GFLOP/s" if peaks.get("bf16") else " (bf16 not measured: no fast bf16)")
        + ".",
        bf16_line(report),
        *filter(None, [course_line(report)]),
        TRAINING_ONLY_NOTE,
        COLUMNS,
    ]
    if skipped_data:
        lines.append(
            f"data x {NOT_MEASURED} (needs full epochs): the data-path speed-up is measured only over a whole epoch; "
            f"this run timed fewer steps for {', '.join(skipped_data)}. Run without --quick/--steps to measure it."
        )
    for name, r in report["models"].items():
        for note in r.get("notes", []):
            lines.append(f"Note ({name}): {note}")
        if "error" in r:
            continue
        dp = r.get("data_only") or {}
        plain = (
            f", plain torchvision {dp['plain']['images_per_s']:,.0f} img/s ({dp['speedup']:.1f}x slower)" if dp.get("plain") else ""
        )
        lines.append(
            f"{name}: {r['steps']} timed steps of {r['epoch_steps']} an epoch x {r['repeats']} repeat(s) after "
            f"{r['warmup_steps']} warm-up; data-only pass: in-memory {dp['in_memory']['images_per_s']:,.0f} img/s{plain}; "
            f"reading the dataset files takes {r['data_load_s']:.2f} s, before fit's clock starts; RSS after imports "
            f"alone {r['rss_after_imports_mb']:.0f} MB."
        )
    return "\n".join(lines)


def format_quality(report: dict[str, Any]) -> str:
    """``--quality``: one row per model: the headline metric at fp32 and bf16-mixed, their difference, the time ratio."""
    if report.get("skipped"):
        return f"bf16 quality check: skipped: {report['skipped']}."
    rows, notes = [], []
    for name, e in report["models"].items():
        fp32, b16 = (e["precisions"].get(p, {}) for p in ("32-true", "bf16-mixed"))
        rows.append([name, e["headline"], fmt(fp32.get("value"), ".4f", 0), fmt(b16.get("value"), ".4f", 0),
                     fmt(e.get("difference_bf16_minus_fp32"), "+.4f", 0), e["better"],
                     fmt(e.get("time_ratio_bf16_over_fp32"), ".2f", 0), e["budget"]["epochs"]])
        for precision, row in e["precisions"].items():
            for key in ("error", "note"):
                if row.get(key):
                    notes.append(f"Note ({name}, {precision}): {row[key]}")
    if report.get("judge"):
        notes.append(f"Conditional models judged by the reference classifier {report['judge']}.")
    header = ["model", "metric", "fp32", "bf16", "bf16-fp32", "better", "time bf16/fp32", "epochs"]
    title = f"bf16-mixed vs fp32, {report['profile']} profile budgets, seed {report['seed']}, validation off:"
    return "\n".join([title, text_table(header, rows, (11, 24, 10, 10, 11, 8, 16, 8), "llrrrrrr"), *notes])


def format_book(report: dict[str, Any]) -> str:
    """``--book``: the cold and the cached build, a line each."""
    lines = [f"Book build, {report['profile']} profile:"]
    for label in ("cold", "cached"):
        b = report.get(label)
        if b is None:
            lines.append(f"  {label:<7} not run (the cold build failed)")
            continue
        status = "ok" if b["returncode"] == 0 else f"FAILED (exit {b['returncode']})"
        lines.append(
            f"  {label:<7} {b['wall_s']:7.1f} s  {status}; notebooks executed {b['executed']} "
            f"({b['execution_seconds']:.1f} s in kernels), from cache {b['from_cache']}, failed {b['failed']}, pages read "
            f"{b['sources_read']}; book's own count: {b['executed_per_book_report']}"
        )
        if b["returncode"] != 0:
            lines.append("  last output:\n" + "\n".join("    " + s for s in b.get("output_tail", "").splitlines()[-15:]))
    return "\n".join(lines)

"""The command line: ``python -m benchmarks`` (run from the repository root).

For each model, in a fresh process (:mod:`benchmarks.child`), it measures the project path (the package's own
training call), the bare loop, the data path, FLOPs and peak memory, and with ``--bf16`` the project path at
bf16-mixed where the hardware has fast bf16; then it prints one table and writes the whole report as JSON.
``--quality`` compares bf16-mixed with fp32 training for every model; ``--book`` times the book build.
Numbers are only as good as the machine is quiet: the load average is recorded next to them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from fundamentalml import registry
from fundamentalml.identity import SHIPPED

from .flops import bf16_skip_reason, machine_info, matmul_rate
from .report import TRAINING_ONLY_NOTE, add_peak_shares, format_book, format_quality, format_table

REPO = Path(__file__).resolve().parents[1]
QUICK_MODELS = registry.benchmark_models("quick")  # the registry's Benchmark(quick=True) entries
QUICK_STEPS = 30


def parse_models(values: list[str] | None) -> list[str]:
    """Registry names from repeatable, comma-separated ``--model`` values, in order, without repeats."""
    names: list[str] = []
    for value in values or []:
        for name in filter(None, (v.strip() for v in value.split(","))):
            registry.get(name)  # an unknown name is an error that lists the known ones
            if name not in names:
                names.append(name)
    return names


def child_command(name: str, out: Path, args: argparse.Namespace, steps: int | None, warmup: int, bf16: bool) -> list[str]:
    """The ``python -m benchmarks.child`` command that measures ``name`` into ``out``."""
    cmd = [sys.executable, "-m", "benchmarks.child", "--model", name, "--out", str(out), "--warmup", str(warmup),
           "--seed", str(args.seed), "--repeats", str(args.repeats)]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    if bf16:
        cmd.append("--bf16")
    if args.data_dir:
        cmd += ["--data_dir", str(args.data_dir)]
    return cmd


def measure_in_child(name: str, args: argparse.Namespace, steps: int | None, warmup: int, bf16: bool) -> dict[str, Any]:
    """Measure ``name`` in a fresh process; what it prints goes to our stderr, its result comes back as a file."""
    with tempfile.TemporaryDirectory(prefix="fml-bench-") as tmp:
        out = Path(tmp) / f"{name}.json"
        proc = subprocess.run(child_command(name, out, args, steps, warmup, bf16), cwd=REPO, stdout=2)
        if proc.returncode == 0 and out.is_file():
            return json.loads(out.read_text())
    return {"model": name, "error": f"python -m benchmarks.child exited with {proc.returncode} (see its output above)"}


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Measure every requested model (each in its own process) and return the whole report."""
    names = args.models or list(QUICK_MODELS if args.quick else registry.MODEL_NAMES)
    steps = args.steps if args.steps is not None else (QUICK_STEPS if args.quick else None)
    warmup = args.warmup if args.warmup is not None else (3 if args.quick else 5)
    info = machine_info()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    seconds, n = (0.5 if args.quick else 1.0), 2048
    peaks: dict[str, Any] = {"matmul_n": n, "fp32": matmul_rate(torch.float32, seconds, n, device), "bf16": None}
    if info["fast_bf16"]:
        peaks["bf16"] = matmul_rate(torch.bfloat16, seconds, n, device)
    bf16 = bool(args.bf16 and info["fast_bf16"])
    report: dict[str, Any] = {
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(["python", "-m", "benchmarks", *(args.argv or [])]),
        "settings": {
            "models": names, "steps": steps, "warmup": warmup, "repeats": args.repeats, "quick": args.quick,
            "bf16": bf16, "seed": args.seed,
        },
        "machine": info,
        "peaks": peaks,
        "training_only": TRAINING_ONLY_NOTE,
        "bf16_skipped": bf16_skip_reason(info) if args.bf16 and not bf16 else None,
        "models": {},
    }
    if report["bf16_skipped"]:
        print(f"--- bf16 skipped: {report['bf16_skipped']} ---", file=sys.stderr, flush=True)
    for name in names:
        print(f"--- measuring {name} (python -m benchmarks.child, a fresh process) ---", file=sys.stderr, flush=True)
        result = measure_in_child(name, args, steps, warmup, bf16)
        if "error" not in result:
            add_peak_shares(result, peaks)
        report["models"][name] = result
    with contextlib.suppress(OSError):
        report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m benchmarks``."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Training speed of FundamentalML as ratios to a bare PyTorch loop, measured in one run.",
    )
    p.add_argument("--model", dest="model", action="append", metavar="NAME",
                   help=f"model(s), repeatable or comma-separated: {', '.join(registry.MODEL_NAMES)} (default: all; "
                        f"with --quick: {', '.join(QUICK_MODELS)})")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_STEPS} timed steps per measurement instead of a full epoch (the data-path speed-up, "
                        f"which needs full epochs, is then not measured)")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps per measurement (default: one epoch at the full profile's batch); --quality: "
                        "train on steps x batch images")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up steps per path (default 5, 3 with --quick)")
    p.add_argument("--repeats", type=int, default=1,
                   help="time every path this many times, interleaved, and report the fastest (for a busy machine)")
    p.add_argument("--bf16", action="store_true",
                   help="also time the project path at bf16-mixed, for every model (only where bf16 is fast: "
                        "avx512_bf16 or amx_bf16 on the CPU, or a CUDA GPU with bf16)")
    p.add_argument("--json", dest="json_path", default=None, help="where to write the JSON (default bench-DATE.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data_dir", "--data-dir", default=None, help="data folder (default $FUNDAMENTALML_DATA)")
    p.add_argument("--quality", action="store_true",
                   help="train every model (or --model) at fp32 and at bf16-mixed and compare the headline metrics")
    p.add_argument("--epochs", type=int, default=None, help="--quality: epochs (default: the profile's)")
    p.add_argument("--eval_size", "--eval-size", type=int, default=None, help="--quality: test images (default: the budget's)")
    p.add_argument("--book", action="store_true", help="time a cold and a cached jupyter-book build")
    p.add_argument("--profile", default=None, choices=(SHIPPED, "smoke", "cpu", "full"),
                   help="--book: what the chapters show (default shipped: the shipped models, as a reader's build; or a "
                        "profile they train at); --quality: the budgets (default full)")
    p.add_argument("--book_timeout", "--book-timeout", type=float, default=3600.0, help="--book: seconds per build")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark (or ``--quality`` / ``--book``), print a table, write JSON; return the report."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        args.models = parse_models(args.model)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    if args.steps is not None and args.steps < 1:
        raise SystemExit("--steps must be at least 1")
    if args.profile == SHIPPED and not args.book:
        raise SystemExit("--profile shipped is for --book (the chapters showing the shipped models); "
                         "--quality trains, so give it smoke, cpu or full")

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    if args.book:
        from .book import run_book

        report, kind = run_book(args.profile or SHIPPED, args.book_timeout), "book"
        text = format_book(report)
    elif args.quality:
        from .quality import run_quality

        with contextlib.redirect_stdout(sys.stderr):  # training's progress; stdout carries only the table
            report, kind = run_quality(
                args.models or list(registry.MODEL_NAMES), profile=args.profile or "full", epochs=args.epochs,
                steps=args.steps, eval_size=args.eval_size, seed=args.seed, data_dir=args.data_dir,
            ), "quality"
        text = format_quality(report)
    else:
        report, kind = run_benchmark(args), "bench"
        text = format_table(report)
    path = Path(args.json_path or (f"bench-{stamp}.json" if kind == "bench" else f"bench-{kind}-{stamp}.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    print(text)
    print(f"JSON: {path}")
    return report

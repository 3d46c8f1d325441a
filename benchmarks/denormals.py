"""Denormal flushing, measured: training steps from a trained model's weights with no flushing, with torch's own
switch (``torch.set_flush_denormal``: the calling thread only) and with the package's (every intra-op thread).

``python -m benchmarks.denormals --steps 30 --repeats 2`` (from the repository root; ``--model`` to choose).
Each mode trains a fresh copy of the shipped model (the trained weights, where subnormal numbers appear; fresh
weights seldom produce them) with the bare loop at the precision its ``full`` budget resolves to here (or
``--precision``). The modes are interleaved ``--repeats`` times, each repeat starting with the next mode, and
each mode keeps its fastest run. Numbers mean something only on a quiet machine: the load average is printed
with them.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from typing import Any

import torch

from fundamentalml import registry, runs
from fundamentalml.profiles import resolve_precision
from fundamentalml.training import denormal_share, no_gpu_probing, set_flush_denormals
from fundamentalml.tables import text_table

from .bare import bare_step, batches
from .flops import machine_info
from .run import parse_models

MODES = ("none", "torch (one thread)", "every thread")
# the registry's benchmark sets: the quick ones (the VAEs) and the convolutional ones (CNN VAE, DCGAN)
DEFAULT_MODELS = tuple(dict.fromkeys(registry.benchmark_models("quick") + registry.benchmark_models("layouts")))


def set_mode(mode: str) -> float:
    """Put the process in ``mode``; return the share of a parallel product's subnormals left unflushed."""
    set_flush_denormals(False)
    if mode == "torch (one thread)":
        torch.set_flush_denormal(True)  # what torch's switch alone does, called after the thread pool started
    elif mode == "every thread":
        set_flush_denormals(True)
    return denormal_share()


def time_steps(model: torch.nn.Module, loader: Any, steps: int, warmup: int, precision: str) -> float:
    """Seconds per step of ``steps`` bare-loop steps of a copy of ``model``, after ``warmup`` untimed ones."""
    trained = copy.deepcopy(model).train()
    step = bare_step(trained, total_steps=steps + warmup, precision=precision)
    data = list(batches(loader, steps + warmup, "cpu"))
    for batch in data[:warmup]:
        step(batch)
    start = time.perf_counter()
    for batch in data[warmup:]:
        step(batch)
    return (time.perf_counter() - start) / max(1, len(data) - warmup)


def measure(name: str, steps: int, warmup: int, repeats: int, data_dir: str | None,
            precision: str | None = None) -> dict[str, Any]:
    """Seconds per step of ``name`` in each mode (fastest of ``repeats``), and each mode's unflushed share;
    at ``precision``, or the one its ``full`` budget resolves to here."""
    spec = registry.get(name)
    budget = resolve_precision(spec, spec.budget("full"), precision, "cpu")
    model = runs.pretrained(name, data_dir=data_dir).model.cpu()
    datamodule = spec.datamodule(budget, data_dir)
    datamodule.prepare_data()
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    seconds: dict[str, float] = {}
    shares: dict[str, float] = {}
    with no_gpu_probing():
        for repeat in range(repeats):
            for mode in MODES[repeat % len(MODES):] + MODES[:repeat % len(MODES)]:  # each repeat starts elsewhere
                shares[mode] = set_mode(mode)
                seconds[mode] = min(seconds.get(mode, float("inf")), time_steps(model, loader, steps, warmup, budget.precision))
    set_flush_denormals(False)
    return {"model": name, "precision": budget.precision, "seconds_per_step": seconds, "unflushed_share": shares}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Measure every ``--model``; print one table row each, with the machine and its load."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.denormals", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", default=None,
                   help=f"model(s), comma-separated (default: {', '.join(DEFAULT_MODELS)})")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--data_dir", "--data-dir", default=None)
    p.add_argument("--precision", default=None, choices=("32-true", "bf16-mixed"),
                   help="default: what each model's full budget resolves to on this machine")
    args = p.parse_args(argv)
    if args.steps < 1 or args.repeats < 1 or args.warmup < 0:
        raise SystemExit("--steps and --repeats must be at least 1, --warmup at least 0")
    names = parse_models(args.model) or list(DEFAULT_MODELS)
    results = [measure(name, args.steps, args.warmup, args.repeats, args.data_dir, args.precision) for name in names]
    rows = []
    for r in results:
        s = r["seconds_per_step"]
        rows.append([r["model"], r["precision"], *(f"{1000 * s[m]:.1f}" for m in MODES),
                     f"{s['torch (one thread)'] / s['every thread']:.3f}", f"{s['none'] / s['every thread']:.3f}"])
    header = ["model", "precision", "ms/step: none", "torch (one thread)", "every thread", "one / every", "none / every"]
    print(text_table(header, rows, (17, 11, 14, 19, 13, 12, 13), "llrrrrr"))
    info = machine_info()
    print(f"\nMachine: {info['cpu_model']}, {info['torch_threads']} torch threads, torch {info['torch']}; load average "
          f"{[round(x, 2) for x in os.getloadavg()] if hasattr(os, 'getloadavg') else '?'} at the end. Unflushed share of a parallel product "
          f"of subnormals, per mode: " + ", ".join(f"{m} {results[0]['unflushed_share'][m]:.2f}" for m in MODES) + ".")
    return results


if __name__ == "__main__":
    main()

"""``python -m benchmarks.layouts``: do ``channels_last`` or ``torch.compile`` speed up the conv models here?

For each model (default: the CNN VAE and the DCGAN) and each precision (fp32, and bf16 autocast where the CPU
has fast bf16), the bare loop (:mod:`benchmarks.bare`) is timed in one process over the same batches for:

    eager           the models as the package builds them
    channels_last   model and batches in the NHWC memory format (oneDNN's preferred layout for convolutions)
    compile         ``torch.compile`` of the model's forward (inductor); the compile time is reported apart

Each variant gets its own warm-up steps (compilation happens there) and the fastest of ``--repeats`` timed
passes is kept. Ratios are against eager in the same precision, measured in the same run. Nothing here changes
the package: what helps is adopted there, with the figure that justified it in the closing note. Example::

    python -m benchmarks.layouts --steps 20 --json layouts.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

import pytorch_lightning as pl
import torch

from fundamentalml import registry
from fundamentalml.training import flush_denormals

from .bare import bare_step
from .flops import fast_bf16, machine_info

VARIANTS = ("eager", "channels_last", "compile")


def _batches(name: str, steps: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``steps`` batches of the model's training data (real data when present, else the offline fallback)."""
    spec = registry.get(name)
    budget = spec.budget("full")
    datamodule = spec.datamodule(budget, None)
    datamodule.setup()
    out = []
    for i, (x, y) in enumerate(datamodule.train_dataloader()):
        if i >= steps:
            break
        out.append((x, torch.as_tensor(y)))
    return out


def time_variant(name: str, variant: str, precision: str, batches: list, warmup: int, repeats: int, seed: int) -> dict[str, Any]:
    """Time ``len(batches)`` bare steps of a fresh ``name`` model in ``variant`` and ``precision``."""
    spec = registry.get(name)
    pl.seed_everything(seed, verbose=False)
    model = spec.build(spec.budget("full")).train()
    data = batches
    compile_s = 0.0
    if variant == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        data = [(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x, y) for x, y in batches]
    step = bare_step(model, total_steps=warmup + repeats * len(batches),
                     precision="bf16-mixed" if precision == "bf16" else "32-true")  # autocast per step
    if variant == "compile":
        for module in model.children():  # compile the networks the per-batch loss calls
            module.compile()
    times = []
    with flush_denormals():
        start = time.perf_counter()
        for batch in data[:warmup]:
            step(batch)
        if variant == "compile":
            compile_s = time.perf_counter() - start
        for _ in range(repeats):
            t = time.perf_counter()
            for batch in data[warmup:]:
                step(batch)
            times.append(time.perf_counter() - t)
    timed = len(data) - warmup
    return {"model": name, "variant": variant, "precision": precision, "steps": timed,
            "time_per_step_s": min(times) / timed, "compile_s": compile_s if variant == "compile" else None}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Command line: time every variant, print the table (ratios against eager) and optionally write JSON."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.layouts", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", default=None, help="registry name(s); default: the registry's Benchmark(layouts=True) models, "
                   f"{', '.join(registry.benchmark_models('layouts'))}")
    p.add_argument("--steps", type=int, default=20, help="timed steps per pass")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per variant (compilation happens here)")
    p.add_argument("--repeats", type=int, default=2, help="timed passes; the fastest is kept")
    p.add_argument("--variant", action="append", choices=VARIANTS, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    names = args.model or list(registry.benchmark_models("layouts"))
    precisions = ["fp32", "bf16"] if fast_bf16() else ["fp32"]
    m = machine_info()
    print(f"{m['cpu_model']}, {m['logical_cpus']} cores, {m['cpu_capability']}, torch {m['torch']}; "
          f"load average {os.getloadavg()[0]:.2f}" + ("" if "bf16" in precisions else "; no fast bf16: fp32 only"))
    rows = []
    for name in names:
        batches = _batches(name, args.warmup + args.steps, args.seed)
        timed, warm = batches[args.warmup:], batches[:args.warmup]
        for precision in precisions:
            base = None
            for variant in args.variant or VARIANTS:
                try:
                    r = time_variant(name, variant, precision, warm + timed, args.warmup, args.repeats, args.seed)
                except Exception as exc:  # noqa: BLE001 -- one failing variant (e.g. no C++ compiler) must not lose the rest
                    r = {"model": name, "variant": variant, "precision": precision, "error": f"{type(exc).__name__}: {exc}"[:300]}
                if variant == "eager" and "error" not in r:
                    base = r["time_per_step_s"]
                if base and "error" not in r:
                    r["ratio_vs_eager"] = r["time_per_step_s"] / base
                rows.append(r)
                shown = (f"{1000 * r['time_per_step_s']:8.1f} ms/step  x{r.get('ratio_vs_eager', float('nan')):.3f}"
                         + (f"  (compile {r['compile_s']:.0f} s)" if r.get("compile_s") else "")) if "error" not in r else r["error"]
                print(f"{name:<8} {precision:<5} {variant:<14} {shown}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": m, "rows": rows}, indent=1, default=str))
    return rows


if __name__ == "__main__":
    main()

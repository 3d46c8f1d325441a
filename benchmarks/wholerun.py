"""``python -m benchmarks.wholerun``: one whole ``full``-profile run against a bare loop over the same steps.

The main benchmark times one epoch on both paths. A learner, though, waits for the whole command: start-up,
every training epoch, the validation pass after each, and the test evaluation at the end. This measures that
whole run through the package's own path (:func:`fundamentalml.runs.get_run`, what the CLI and the chapters
call) and splits its wall time::

    start-up      get_run's call until the first training epoch starts (data, model, Trainer)
    training      the training epochs (fit's clock inside them)
    validation    the validation passes (one per epoch, on the validation split)
    wrap-up       after the last epoch until fit returns, and saving the run
    evaluation    the test evaluation the CLI prints (``Run.evaluate``: the whole test set)

and runs a bare loop (:mod:`benchmarks.bare`) over the same number of training steps, same batches, same
optimiser, once before and once after the whole run (their mean is the reference, so a drift in the machine's
speed during the measurement cancels to first order), so ``whole run / bare`` is the cost per training step of
everything the package adds. Run it on a
quiet machine: the load average is printed with the result. Example::

    python -m benchmarks.wholerun --model vae-mlp --json wholerun.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from fundamentalml import registry
from fundamentalml.runs import get_run, resolve_precision
from fundamentalml.training import flush_denormals, no_gpu_probing

from .bare import bare_step, batches
from .flops import machine_info


class PhaseClock(Callback):
    """Adds up the wall time of the training epochs and of the validation passes, and notes when the first
    training epoch starts and when the last one ends."""

    def __init__(self) -> None:
        self.first_start = self.last_end = float("nan")
        self.training = self.validation = 0.0
        self.mark = self.validation_started = 0.0  # when the current stretch of training / validation began

    def on_train_epoch_start(self, trainer, pl_module) -> None:  # noqa: D102
        self.mark = time.perf_counter()
        if math.isnan(self.first_start):
            self.first_start = self.mark

    def on_validation_start(self, trainer, pl_module) -> None:  # noqa: D102
        if trainer.sanity_checking:
            return
        now = time.perf_counter()
        self.training += now - self.mark  # Lightning validates at the end of the training epoch, inside it
        self.validation_started = now

    def on_validation_end(self, trainer, pl_module) -> None:  # noqa: D102
        if trainer.sanity_checking:
            return
        now = time.perf_counter()
        self.validation += now - self.validation_started
        self.mark = now

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: D102
        now = time.perf_counter()
        self.training += now - self.mark
        self.last_end = now


def _bare_loop(spec: registry.ModelSpec, budget: Any, loader: Any, steps: int, seed: int, precision: str) -> float:
    """Seconds of a bare loop training a fresh model over ``steps`` batches of ``loader`` (a fresh pass per epoch)."""
    pl.seed_everything(seed, verbose=False)
    model = spec.build(budget).train()
    with flush_denormals(), no_gpu_probing():  # as fit runs
        start = time.perf_counter()
        step = bare_step(model, total_steps=steps, precision=precision)
        for _ in range(budget.epochs):  # a fresh pass over the loader per epoch, as fit makes one
            for batch in batches(loader, len(loader), "cpu"):
                step(batch)
        return time.perf_counter() - start


def measure_whole_run(name: str, seed: int = 0, data_dir: str | None = None, profile: str = "full",
                      precision: str | None = None) -> dict[str, Any]:
    """Time a whole ``profile`` run of ``name`` by phase, between two bare loops over the same steps; return the split.

    ``precision`` (default: the profile's, ``"auto"`` resolved for this machine) is the run's; the bare loop runs
    at the same one (bf16 autocast for ``bf16-mixed``, as Lightning's CPU plugin does).
    """
    spec = registry.get(name)
    budget = resolve_precision(spec, spec.budget(profile), precision)
    precision = budget.precision
    if precision not in ("32-true", "bf16-mixed"):
        raise ValueError(f"the whole-run benchmark compares fp32 or bf16-mixed runs, not {precision!r}.")
    # Warm both paths first (thread pools, oneDNN kernel choices, the allocator, Lightning's lazy imports), as the
    # main benchmark does: otherwise whichever path runs first pays for it, and a 10-epoch run showed 1.2-1.3x
    # from that alone where warmed 2-epoch runs showed 1.0-1.1x.
    with tempfile.TemporaryDirectory() as out:
        get_run(name, profile, seed=seed, out=out, data_dir=data_dir, retrain=True, evaluate=False, epochs=1,
                precision=precision, progress_bar=False, print_epochs=False)
    datamodule = spec.datamodule(budget, data_dir)  # what the run trains on (train() makes the same one)
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    steps = budget.epochs * len(loader)
    with flush_denormals(), no_gpu_probing():  # one warm-up epoch of the bare loop, as fit runs
        warm_step = bare_step(spec.build(budget).train(), total_steps=len(loader), precision=precision)
        for batch in batches(loader, len(loader), "cpu"):
            warm_step(batch)
    # The bare loop runs before and after the whole run and its mean is the reference: this machine's speed
    # drifts by +-20% over minutes, and a bare loop on one side only would put that drift into the ratio.
    bare_before = _bare_loop(spec, budget, loader, steps, seed, precision)
    clock = PhaseClock()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run = get_run(name, profile, seed=seed, out=out, data_dir=data_dir, retrain=True, evaluate=False,
                      precision=precision, progress_bar=False, print_epochs=False, trainer_kwargs={"callbacks": [clock]})
        returned = time.perf_counter()
        measured = run.evaluate()
        end = time.perf_counter()
    bare_after = _bare_loop(spec, budget, loader, steps, seed, precision)
    bare_s = (bare_before + bare_after) / 2
    whole = end - start
    split = {
        "start_up_s": clock.first_start - start,
        "training_s": clock.training,
        "validation_s": clock.validation,
        "wrap_up_s": returned - clock.last_end,
        "evaluation_s": end - returned,
    }
    return {
        "model": name,
        "profile": profile,
        "precision": precision,
        "epochs": budget.epochs,
        "train_steps": steps,
        "whole_run_s": whole,
        **split,
        "bare_s": bare_s,
        "bare_before_s": bare_before,
        "bare_after_s": bare_after,
        "ratio_whole_over_bare": whole / bare_s,
        "ratio_training_over_bare": clock.training / bare_s,
        "headline": {spec.headline: measured.to_dict()[spec.headline]},
        "machine": machine_info(),
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: print the split as a table and optionally write it as JSON."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.wholerun", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=registry.benchmark_models("quick")[0], help="one registry name (default: the first quick one)")
    p.add_argument("--profile", default="full", help="smoke, cpu or full")
    p.add_argument("--precision", default=None, help="32-true or bf16-mixed (default: the profile's, auto resolved)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data_dir", "--data-dir", default=None)
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args(argv)
    r = measure_whole_run(args.model, args.seed, args.data_dir, args.profile, args.precision)
    m = r["machine"]
    print(f"{r['model']} at {r['profile']} ({r['precision']}): {r['epochs']} epochs, {r['train_steps']} steps; {m['cpu_model']}, "
          f"{m['logical_cpus']} cores, {m['cpu_capability']}, torch {m['torch']}; load average {r['load_average'][0]:.2f}")
    for key in ("start_up_s", "training_s", "validation_s", "wrap_up_s", "evaluation_s"):
        print(f"  {key[:-2]:<12}{r[key]:8.2f} s  ({r[key] / r['whole_run_s']:.1%})")
    print(f"  {'whole run':<12}{r['whole_run_s']:8.2f} s")
    print(f"  {'bare loop':<12}{r['bare_s']:8.2f} s   whole/bare {r['ratio_whole_over_bare']:.3f}, "
          f"training epochs/bare {r['ratio_training_over_bare']:.3f}  (mean of {r['bare_before_s']:.2f} s before "
          f"and {r['bare_after_s']:.2f} s after the whole run)")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1, default=str))
    return r


if __name__ == "__main__":
    main()

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
optimiser, one bare epoch after each training epoch of the whole run (off its clock, the random state put
back), so ``whole run / bare`` is the cost per training step of everything the package adds, and each
training epoch has its bare twin next to it in time: a drift in the machine's speed cancels in each pair's
ratio, whose median is printed too. Run it on a quiet machine: the load average is printed with the result.
Example::

    python -m benchmarks.wholerun --model vae-mlp --json wholerun.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities.seed import isolate_rng

from fundamentalml import registry
from fundamentalml.runs import get_run, resolve_precision
from fundamentalml.training import flush_denormals, no_gpu_probing

from .bare import bare_step, batches
from .flops import machine_info


class PhaseClock(Callback):
    """Adds up the wall time of the training epochs and of the validation passes, and notes when the first
    training epoch starts and when the last one ends.

    With ``between`` (a function that runs one bare-loop epoch and returns its seconds), it is called after
    every training epoch, off the clock: each training epoch of the whole run then has a bare epoch of the same
    steps next to it in time, so a drift of the machine's speed over minutes cancels in their ratio. The
    random-number state is put back after it, so the whole run trains exactly as it would alone.
    """

    def __init__(self, between: Callable[[], float] | None = None) -> None:
        self.first_start = self.last_end = float("nan")
        self.training = self.validation = self.paused = 0.0
        self.mark = self.validation_started = self.epoch_training = 0.0
        self.between = between
        self.training_epochs: list[float] = []  # each training epoch's own seconds (validation left out)
        self.bare_epochs: list[float] = []  # the bare epoch run after it

    def on_train_epoch_start(self, trainer, pl_module) -> None:  # noqa: D102
        self.mark = time.perf_counter()
        self.epoch_training = 0.0
        if math.isnan(self.first_start):
            self.first_start = self.mark

    def on_validation_start(self, trainer, pl_module) -> None:  # noqa: D102
        if trainer.sanity_checking:
            return
        now = time.perf_counter()
        self.training += now - self.mark  # Lightning validates at the end of the training epoch, inside it
        self.epoch_training += now - self.mark
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
        self.training_epochs.append(self.epoch_training + now - self.mark)
        if self.between is not None:
            with isolate_rng():  # Lightning's: torch, NumPy and Python random states put back on exit
                self.bare_epochs.append(self.between())
            self.paused += time.perf_counter() - now
        self.last_end = time.perf_counter()


def measure_whole_run(name: str, seed: int = 0, data_dir: str | None = None, profile: str = "full",
                      precision: str | None = None, epochs: int | None = None) -> dict[str, Any]:
    """Time a whole ``profile`` run of ``name`` by phase, a bare-loop epoch after each of its training epochs;
    return the split.

    ``precision`` (default: the profile's, ``"auto"`` resolved for this machine) is the run's; the bare loop runs
    at the same one (bf16 autocast for ``bf16-mixed``, as Lightning's CPU plugin does). ``epochs`` overrides the
    profile's (a shorter check; the issue's figure is the whole profile).
    """
    spec = registry.get(name)
    budget = spec.budget(profile) if epochs is None else spec.budget(profile, epochs=epochs)
    budget = resolve_precision(spec, budget, precision)
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

    def bare_epoch(step: Callable) -> float:
        began = time.perf_counter()
        for batch in batches(loader, len(loader), "cpu"):  # a fresh pass over the loader, as fit makes one
            step(batch)
        return time.perf_counter() - began

    with flush_denormals(), no_gpu_probing():  # one warm-up epoch of the bare loop, as fit runs
        bare_epoch(bare_step(spec.build(budget).train(), total_steps=len(loader), precision=precision))
    # The bare loop runs interleaved with the whole run, one bare epoch after each training epoch (off the whole
    # run's clock): this machine's speed drifts by +-20% over minutes, and a bare loop run before or after the
    # whole run put that drift into the ratio (28.2 s before one whole run, 33.4 s after it).
    pl.seed_everything(seed, verbose=False)
    bare_model = spec.build(budget).train()
    step = bare_step(bare_model, total_steps=steps, precision=precision)
    clock = PhaseClock(between=lambda: bare_epoch(step))
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run = get_run(name, profile, seed=seed, out=out, data_dir=data_dir, retrain=True, evaluate=False, epochs=epochs,
                      precision=precision, progress_bar=False, print_epochs=False, trainer_kwargs={"callbacks": [clock]})
        returned = time.perf_counter()
        measured = run.evaluate()
        end = time.perf_counter()
    bare_s = sum(clock.bare_epochs)
    per_epoch = [t / b for t, b in zip(clock.training_epochs, clock.bare_epochs)]
    whole = end - start - clock.paused  # the bare epochs ran inside fit, off the whole run's clock
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
        "training_epochs_s": clock.training_epochs,
        "bare_epochs_s": clock.bare_epochs,
        "ratio_epoch_median": statistics.median(per_epoch),
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
    p.add_argument("--epochs", type=int, default=None, help="override the profile's epochs (default: the profile's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data_dir", "--data-dir", default=None)
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args(argv)
    r = measure_whole_run(args.model, args.seed, args.data_dir, args.profile, args.precision, args.epochs)
    m = r["machine"]
    print(f"{r['model']} at {r['profile']} ({r['precision']}): {r['epochs']} epochs, {r['train_steps']} steps; {m['cpu_model']}, "
          f"{m['logical_cpus']} cores, {m['cpu_capability']}, torch {m['torch']}; load average {r['load_average'][0]:.2f}")
    for key in ("start_up_s", "training_s", "validation_s", "wrap_up_s", "evaluation_s"):
        print(f"  {key[:-2]:<12}{r[key]:8.2f} s  ({r[key] / r['whole_run_s']:.1%})")
    print(f"  {'whole run':<12}{r['whole_run_s']:8.2f} s")
    print(f"  {'bare loop':<12}{r['bare_s']:8.2f} s   whole/bare {r['ratio_whole_over_bare']:.3f}, "
          f"training epochs/bare {r['ratio_training_over_bare']:.3f}, median epoch pair {r['ratio_epoch_median']:.3f}")
    print("  epoch pairs (training s / bare s): " + ", ".join(
        f"{t:.2f}/{b:.2f}" for t, b in zip(r["training_epochs_s"], r["bare_epochs_s"])))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1, default=str))
    return r


if __name__ == "__main__":
    main()

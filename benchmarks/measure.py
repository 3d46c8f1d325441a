"""What is measured for one model, in which order: project path, bare loop, data path, FLOPs, memory, bf16.

Meant to run alone in a fresh process (:mod:`benchmarks.child`), so that the peak memory and the warm state
(thread pools, kernel choices, Lightning's imports) are this model's only.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import replace
from typing import Any

import pytorch_lightning as pl
import torch

from fundamentalml import registry
from fundamentalml.runs import resolve_precision

from .bare import batches, bare_step, run_bare
from .datapath import data_only, plain_loader
from .flops import flops_per_image, peak_rss_mb
from .project import run_project

NEEDS_FULL_EPOCHS = "needs full epochs"


def _timed(seconds: float, images: int) -> dict[str, float]:
    return {"time_s": seconds, "images": images, "images_per_s": images / seconds if seconds > 0 else float("nan")}


def measure_model(
    name: str,
    steps: int | None = None,
    warmup: int = 5,
    bf16: bool = False,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    repeats: int = 1,
) -> dict[str, Any]:
    """Measure one model; return a JSON-ready dict.

    Args:
        name: a registry name.
        steps: timed optimisation steps per measurement (default: one full epoch of the training split).
            The data-path speed-up needs full epochs: it is measured only when the timed steps are one.
        warmup: untimed steps through both paths first (thread pools, kernel selection, Lightning's imports).
        bf16: also time the project path at ``precision="bf16-mixed"`` (the caller checks the hardware).
        seed: seeds the weights (the same for every path) and the data order.
        data_dir: data folder (default: ``$FUNDAMENTALML_DATA``).
        repeats: run the timed paths this many times, interleaved, and report each path's fastest run.
    """
    spec = registry.get(name)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # Training only: no validation loop on either path. One device: "auto" on a multi-GPU host would start DDP.
    trainer_kwargs: dict[str, Any] = {"limit_val_batches": 0, **({"devices": 1} if device.type == "cuda" else {})}

    # torch (a CUDA build maps hundreds of MB of libraries) and Lightning alone make most of a small model's RSS.
    rss_imports = peak_rss_mb()
    full = spec.budget("full")
    batch = full.batch_size
    probe = spec.datamodule(replace(full, train_size=None), data_dir)
    start = time.perf_counter()
    probe.prepare_data()  # what fit does before its clock starts: read the dataset files
    probe.setup("fit")
    load_s = time.perf_counter() - start
    n_train, is_fallback, dataset = len(probe.train_data), probe.is_fallback, probe.train_set.name
    del probe
    epoch_steps = n_train // batch  # full batches only: every timed step sees `batch` images
    notes: list[str] = []
    if steps is not None and steps > epoch_steps:
        notes.append(f"--steps {steps} is more than one epoch; timed {epoch_steps}")
    steps = epoch_steps if steps is None else max(1, min(int(steps), epoch_steps))
    full_epoch = steps == epoch_steps
    warmup = max(1, min(int(warmup), epoch_steps))
    # The project and bare columns are fp32; bf16-mixed is its own column (--bf16). A profile's "auto" precision
    # (bf16 where the hardware has it fast) is what a real run would use: say so beside the fp32 numbers.
    if full.precision not in ("32-true", "32", 32):
        notes.append(f"the full profile trains at precision {full.precision!r} "
                     f"({resolve_precision(spec, full, None, device.type).precision} here); these columns time fp32")
    budget = replace(full, epochs=1, train_size=steps * batch, precision="32-true")
    if is_fallback:
        notes.append("the real dataset is missing: measured on the offline fallback")

    # ---- warm-up: both paths, on a separate model and a separate short epoch
    warm_budget = replace(budget, train_size=warmup * batch)
    warm = run_project(spec, warm_budget, data_dir=data_dir, seed=seed, trainer_kwargs=trainer_kwargs).trained
    pl.seed_everything(seed, verbose=False)
    warm_model = spec.build(warm_budget)
    run_bare(warm_model, warm.datamodule.train_dataloader(), warmup, device)
    first = next(batches(warm.datamodule.train_dataloader(), 1, device))
    flops = flops_per_image(bare_step(warm_model.train(), total_steps=warmup), first)
    del warm, warm_model, first

    # ---- interleaved `repeats` times so that a burst of load on a shared machine hits every path alike; the
    # minimum of each path is reported (the least disturbed run), every time is kept in the JSON.
    times: dict[str, list[float]] = {
        "project": [], "project_epoch": [], "bare": [], "plain": [], "data_in_memory": [], "data_plain": [],
    }
    images = steps * batch
    rss_project = 0.0
    plain_failed = not full_epoch
    loader = None
    datamodule = None
    for _ in range(repeats):
        # 1. project path: the package's training call on a fresh model and DataModule
        project = run_project(spec, budget, data_dir=data_dir, seed=seed, trainer_kwargs=trainer_kwargs)
        datamodule = project.trained.datamodule
        times["project"].append(project.seconds)
        times["project_epoch"].append(project.epoch_seconds)
        rss_project = max(rss_project, peak_rss_mb())
        del project

        # 2. bare loop: the same module class (fresh, same seed), its optimisers, the same DataModule's batches
        pl.seed_everything(seed, verbose=False)
        bare_s, bare_images = run_bare(spec.build(budget), datamodule.train_dataloader(), steps, device)
        times["bare"].append(bare_s)
        if bare_images != images:
            notes.append(f"bare loop saw {bare_images} images, project path {images}")

        # 3. data path: the same bare loop fed by the textbook torchvision pipeline; and both loaders alone.
        # An in-memory pass takes about a millisecond, so keep the fastest of several passes.
        times["data_in_memory"].append(min(data_only(datamodule.train_dataloader(), steps)[0] for _ in range(5)))
        if plain_failed:
            continue
        try:
            loader = loader or plain_loader(datamodule, batch)
            pl.seed_everything(seed, verbose=False)
            plain_s, _ = run_bare(spec.build(budget), loader, steps, device)
            times["plain"].append(plain_s)
            times["data_plain"].append(data_only(loader, steps)[0])
        except Exception as exc:  # noqa: BLE001 -- a failing pipeline must not lose the other numbers
            plain_failed = True
            notes.append(f"plain torchvision data path failed: {type(exc).__name__}: {exc}")
    project_s, bare_s, epoch_s = min(times["project"]), min(times["bare"]), min(times["project_epoch"])
    plain = _timed(min(times["plain"]), images) if times["plain"] else None
    data_pass: dict[str, Any] = {"in_memory": _timed(min(times["data_in_memory"]), images)}
    if times["data_plain"]:
        data_pass["plain"] = _timed(min(times["data_plain"]), images)
        data_pass["speedup"] = data_pass["plain"]["time_s"] / data_pass["in_memory"]["time_s"]

    # ---- bf16-mixed project path (warmed up separately: autocast picks other kernels)
    bf16_result: dict[str, Any] | None = None
    if bf16:
        b16 = replace(budget, precision="bf16-mixed")
        run_project(spec, replace(warm_budget, precision="bf16-mixed"), data_dir=data_dir, seed=seed, trainer_kwargs=trainer_kwargs)
        b16_times = [
            run_project(spec, b16, data_dir=data_dir, seed=seed, trainer_kwargs=trainer_kwargs).seconds for _ in range(repeats)
        ]
        times["project_bf16"] = b16_times
        bf16_result = {**_timed(min(b16_times), images), "ratio_bf16_over_fp32": min(b16_times) / project_s}

    # ---- full-profile estimate: the project path's time per step x the profile's steps
    full_train = full.train_size if full.train_size is not None else n_train
    full_steps = full.epochs * math.ceil(full_train / full.batch_size)
    per_step = project_s / steps
    project_timed = _timed(project_s, images)
    return {
        "model": name,
        "title": spec.title,
        "dataset": dataset,
        "device": str(device),
        "batch_size": batch,
        "steps": steps,
        "epoch_steps": epoch_steps,
        "full_epoch": full_epoch,
        "warmup_steps": warmup,
        "project": {**project_timed, "time_per_step_s": per_step},
        "bare": _timed(bare_s, images),
        "ratio_project_over_bare": project_s / bare_s,  # the same images on both paths: time per image ratio
        "ratio_target": spec.benchmark.ratio_target,  # printed, never asserted: timings depend on the machine
        # fit's epoch alone against the bare loop, and fit's fixed cost per call (see project.EpochClock)
        "project_epoch_s": epoch_s,
        "ratio_epoch_over_bare": epoch_s / bare_s,
        "fit_fixed_s": project_s - epoch_s,
        "plain_data": plain,
        "data_path_speedup": plain["time_s"] / bare_s if plain else None,
        "data_path_skipped": None if full_epoch else f"{NEEDS_FULL_EPOCHS}: timed {steps} of {epoch_steps} steps",
        "data_path_target": spec.benchmark.data_speedup_target,
        "data_only": data_pass,
        "flops_per_image": flops,
        "gflops_per_image": flops / 1e9,
        "achieved_gflops": flops * project_timed["images_per_s"] / 1e9,
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_mb_project": rss_project,
        "rss_after_imports_mb": rss_imports,
        "data_load_s": load_s,
        "repeats": repeats,
        "times_s": times,
        # the full profile's work: its images, and their training FLOPs (what no implementation can skip)
        "full_profile": {"epochs": full.epochs, "steps": full_steps, "estimate_s": per_step * full_steps,
                         "images": full.epochs * full_train, "flops": flops * full.epochs * full_train},
        "bf16": bf16_result,
        "notes": notes,
    }

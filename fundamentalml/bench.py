"""How fast the package trains, as ratios to a bare PyTorch loop on the same machine in the same run.

``python -m fundamentalml.bench`` measures, for each model, in a fresh subprocess (so that peak memory and warm
state belong to one model only):

1. **project path**: :func:`fundamentalml.training.fit`, the call the CLI makes, for one epoch of ``--steps``
   batches of the real training set (validation switched off with ``limit_val_batches=0``, so that only
   training is compared), as images per second of the wall time ``fit`` returns;
2. **bare loop**: the same ``nn.Module`` (fresh, same seed), the same optimisers (``configure_optimizers()``),
   the same DataModule's ``train_dataloader()``, driven by a plain ``for`` loop, no Lightning;
3. **data path**: the same bare loop fed by a plain torchvision pipeline (``ToTensor()`` per image, default
   collate), and a data-only pass over each loader;
4. **FLOPs** of one training step (``FlopCounterMode``), and the achieved rate as a share of a matmul rate
   measured in the same run;
5. **peak resident memory** of the child process;
6. the **machine** (CPU, threads, BF16/AMX support, versions, load average);
7. an estimate of the **full profile's** wall time from the project path's time per step;
8. with ``--bf16``, the project path again at ``precision="bf16-mixed"``.

``--quality`` trains the CNN VAE at both precisions and compares test -ELBO; ``--book`` times a cold and a
cached ``jupyter-book build .`` in a temporary copy of the repository. Numbers are only as good as the machine
is quiet: the load average is recorded next to them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

MODEL_ORDER = ("vae-mlp", "vae-cnn", "dcgan", "cvae", "cgan", "classifier")
QUICK_MODELS = ("vae-mlp", "vae-cnn")
QUICK_STEPS = 30
# Targets printed beside the measurements (never asserted: timings depend on the machine and its load).
RATIO_TARGETS = {"vae-mlp": 1.15}
DEFAULT_RATIO_TARGET = 1.10
DATA_SPEEDUP_TARGETS = {"vae-mlp": 1.8}
RESULT_MARKER = "FUNDAMENTALML-BENCH-RESULT "
TRAINING_ONLY_NOTE = (
    "Training only: the project path runs fit(..., limit_val_batches=0), so no validation loop is timed; "
    "the bare loop has none either."
)


# --------------------------------------------------------------------------------------------- machine


def _cpuinfo() -> tuple[str, set[str]]:
    """CPU model name and flag set from ``/proc/cpuinfo`` (empty on systems without it)."""
    model, flags = platform.processor() or platform.machine(), set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and value.strip():
                model = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
    return model, flags


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU, threads, BF16/AMX support, versions and the current load."""
    import pytorch_lightning as pl

    model, flags = _cpuinfo()
    capability = ""
    with contextlib.suppress(Exception):
        capability = str(torch.backends.cpu.get_cpu_capability())
    info: dict[str, Any] = {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": capability,
        "avx512": "avx512f" in flags or "AVX512" in capability,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx": any(f.startswith("amx") for f in flags) or "AMX" in capability,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "pytorch_lightning": pl.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def has_fast_bf16(info: dict[str, Any]) -> bool:
    """``True`` when the CPU has native BF16 matmul instructions (AVX-512 BF16 or AMX)."""
    return bool(info.get("avx512_bf16") or info.get("amx"))


def matmul_rate(dtype: torch.dtype = torch.float32, seconds: float = 1.0, n: int = 2048, device: str = "cpu") -> float:
    """FLOP/s of ``n x n`` matrix products in ``dtype``, timed for about ``seconds`` (at least 3 products).

    The reference for "% of peak": what this machine's BLAS reaches on a large, ideal matmul right now.
    """
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    torch.mm(a, b, out=out)  # warm-up: thread pool, BLAS/oneDNN kernel selection
    _sync(device)
    count, start = 0, time.perf_counter()
    while True:
        torch.mm(a, b, out=out)
        count += 1
        _sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and count >= 3:
            return 2.0 * n**3 * count / elapsed


def _sync(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


# --------------------------------------------------------------------------------------------- fit's clock


def _epoch_clock():
    """A Lightning callback that notes when the (single) training epoch starts and ends.

    ``fit``'s wall time minus the epoch's is its fixed cost per call (Trainer
    set-up, ``on_fit_start``, epoch-end bookkeeping, teardown), which a short run cannot amortise. Only
    two once-an-epoch hooks do anything; Lightning's per-batch calls of the inherited no-op hooks cost
    microseconds a step.
    """
    from pytorch_lightning.callbacks import Callback

    class EpochClock(Callback):
        def __init__(self) -> None:
            self.start = self.end = float("nan")

        def on_train_epoch_start(self, trainer, pl_module) -> None:  # noqa: D102
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: D102
            _sync(pl_module.device)
            self.end = time.perf_counter()

        @property
        def seconds(self) -> float:
            return self.end - self.start

    return EpochClock()


# --------------------------------------------------------------------------------------------- bare loops


def bare_step_fn(name: str, model: torch.nn.Module) -> Callable[[tuple[torch.Tensor, torch.Tensor]], None]:
    """Return ``step(batch)``: one optimisation step of ``model`` without Lightning.

    The optimisers are the model's own (``configure_optimizers()``); the losses are the package's own
    functions, so the only difference from the project path is Lightning and the model's bookkeeping.
    """
    from .models import GAN
    from .models.dcgan import discriminator_loss, generator_loss
    from .models.vae import vae_loss

    optimizers = model.configure_optimizers()
    if isinstance(model, GAN):
        opt_g, opt_d = optimizers
        conditional = model.fixed_labels() is not None

        def gan_step(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
            # Mirrors GAN.training_step: D on real and detached fake, then G with the non-saturating loss.
            real, labels = batch
            labels = labels if conditional else None
            z = torch.randn(real.shape[0], model.latent_dim, device=real.device)
            fake = model.generate_from(z, labels)
            loss_d = discriminator_loss(model.discriminate(real, labels), model.discriminate(fake.detach(), labels))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g = generator_loss(model.discriminate(fake, labels))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()

        return gan_step

    # The classifier returns {"optimizer", "lr_scheduler"}; step its schedule too, as Lightning does.
    opt = optimizers["optimizer"] if isinstance(optimizers, dict) else optimizers
    scheduler = optimizers["lr_scheduler"]["scheduler"] if isinstance(optimizers, dict) else None
    if name in ("vae-mlp", "vae-cnn"):

        def loss_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            x = batch[0]
            logits, mu, logvar = model(x)
            return vae_loss(logits, x, mu, logvar, beta=model.beta, from_logits=True)[0]

    else:
        # cVAE and classifier: their _step is plain PyTorch (accumulate only needs self.device).
        def loss_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            return model._step(batch, "train")

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        loss = loss_fn(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()

    return step


def _batches(loader: Iterable, limit: int, device: torch.device) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``limit`` batches of ``loader``, on ``device``."""
    for i, (x, y) in enumerate(loader):
        if i >= limit:
            return
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def run_bare(name: str, model: torch.nn.Module, loader: Iterable, steps: int, device: torch.device) -> tuple[float, int]:
    """Train ``model`` for up to ``steps`` batches of ``loader`` in a plain loop; return ``(seconds, images)``.

    The clock covers what ``fit``'s covers for the same work: making the optimisers, the loader's iterator
    and every step, inside :func:`~fundamentalml.training.flush_denormals` like ``fit``.
    """
    from .training import flush_denormals

    model.to(device).train()
    images = 0
    with flush_denormals():
        start = time.perf_counter()
        step = bare_step_fn(name, model)
        for batch in _batches(loader, steps, device):
            step(batch)
            images += batch[0].shape[0]
        _sync(device)
        elapsed = time.perf_counter() - start
    return elapsed, images


def data_only(loader: Iterable, steps: int) -> tuple[float, int]:
    """Iterate ``steps`` batches of ``loader`` and do nothing else; return ``(seconds, images)``."""
    images = 0
    start = time.perf_counter()
    for i, (x, _) in enumerate(loader):
        if i >= steps:
            break
        images += x.shape[0]
    return time.perf_counter() - start, images


def flops_per_image(name: str, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """FLOPs of one training step (forward + backward; the optimiser's elementwise work is not counted) per image.

    Counted by ``torch.utils.flop_counter.FlopCounterMode``, which counts matmuls and convolutions (2 per
    multiply-add), the operations that dominate these models.
    """
    from torch.utils.flop_counter import FlopCounterMode

    step = bare_step_fn(name, model.train())
    counter = FlopCounterMode(display=False)
    with counter:
        step(batch)
    return counter.get_total_flops() / batch[0].shape[0]


# --------------------------------------------------------------------------------------------- plain data path


class _PILArrayDataset(torch.utils.data.Dataset):
    """The textbook per-image pipeline over an in-memory ``uint8`` ``(N, H, W, C)`` array: PIL image, transform."""

    def __init__(self, images_hwc, labels, transform: Callable) -> None:
        self.images, self.labels, self.transform = images_hwc, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def plain_loader(name: str, data_dir: Path, batch_size: int, value_range: str) -> torch.utils.data.DataLoader:
    """A plain torchvision input pipeline for model ``name``: ``ToTensor()`` per image, default collate.

    MNIST through ``torchvision.datasets.MNIST``; CIFAR-10 from the course's ``cifar10/train.npz`` (``uint8``
    HWC) through PIL and ``ToTensor()``, or torchvision's ``CIFAR10`` where only its layout exists.
    Normalised to [-1, 1] for the tanh GANs, as the in-memory path does.
    """
    import torchvision
    from torchvision import transforms

    steps: list[Callable] = [transforms.ToTensor()]
    if value_range == "symmetric":
        steps.append(transforms.Normalize((0.5,), (0.5,)))
    transform = transforms.Compose(steps)
    if name == "dcgan":
        npz = data_dir / "cifar10" / "train.npz"
        if npz.is_file():
            import numpy as np

            with np.load(npz) as f:
                dataset: torch.utils.data.Dataset = _PILArrayDataset(f["images"], f["labels"], transform)
        else:
            dataset = torchvision.datasets.CIFAR10(str(data_dir), train=True, transform=transform, download=False)
    else:
        dataset = torchvision.datasets.MNIST(str(data_dir), train=True, transform=transform, download=False)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0)


# --------------------------------------------------------------------------------------------- one model


def _rate(images: int, seconds: float) -> float:
    return images / seconds if seconds > 0 else float("nan")


def _timed(seconds: float, images: int) -> dict[str, float]:
    return {"time_s": seconds, "images": images, "images_per_s": _rate(images, seconds)}


def measure_model(
    name: str,
    steps: int | None = None,
    warmup: int = 5,
    bf16: bool = False,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    repeats: int = 1,
) -> dict[str, Any]:
    """Measure one model: project path, bare loop, plain data path, FLOPs, memory, full-profile estimate.

    Meant to run alone in its own process (``--_child``), so that ``peak_rss_mb`` is this model's.

    Args:
        name: model name.
        steps: timed optimisation steps per measurement (default: one full epoch of the training split).
        warmup: untimed steps through both paths first (thread pools, kernel selection, Lightning's imports).
        bf16: also time the project path at ``precision="bf16-mixed"``.
        seed: seeds the weights (the same for every path) and the data order.
        data_dir: data folder (default: ``$FUNDAMENTALML_DATA``).
        repeats: run the timed paths this many times, interleaved, and report each path's fastest run.
    """
    import pytorch_lightning as pl

    from .data import resolve_data_dir
    from .profiles import get_budget
    from .training import fit, make_datamodule, make_model, quiet_lightning

    quiet_lightning()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # One device only: on a multi-GPU host "auto" would start DDP, which is not what the bare loop does.
    fit_kwargs: dict[str, Any] = {"limit_val_batches": 0}
    if device.type == "cuda":
        fit_kwargs["devices"] = 1

    # torch (a CUDA build maps hundreds of MB of libraries) and Lightning alone make most of a small model's RSS.
    rss_imports = peak_rss_mb()
    full = get_budget(name, "full")
    batch = full.batch_size
    probe = make_datamodule(name, dataclasses.replace(full, train_size=None), data_dir)
    start = time.perf_counter()
    probe.prepare_data()  # what fit does first, inside its clock: read the dataset files
    probe.setup()
    load_s = time.perf_counter() - start
    n_train = len(probe.train_data)
    is_fallback = probe.is_fallback
    del probe
    epoch_steps = n_train // batch  # full batches only: every timed step sees `batch` images
    notes: list[str] = []
    if steps is not None and steps > epoch_steps:
        notes.append(f"--steps {steps} is more than one epoch; timed {epoch_steps}")
    steps = epoch_steps if steps is None else max(1, min(int(steps), epoch_steps))
    warmup = max(1, min(int(warmup), epoch_steps))
    budget = dataclasses.replace(full, epochs=1, train_size=steps * batch)
    if is_fallback:
        notes.append("the real dataset is missing: measured on the offline fallback")

    # ---- warm-up: both paths, on a separate model and a separate short epoch
    warm_budget = dataclasses.replace(budget, train_size=warmup * batch)
    warm_dm = make_datamodule(name, warm_budget, data_dir)
    pl.seed_everything(seed, verbose=False)
    fit(make_model(name, warm_budget), warm_dm, warm_budget, name=name, progress_bar=True, print_epochs=True, **fit_kwargs)
    pl.seed_everything(seed, verbose=False)
    warm_model = make_model(name, warm_budget)
    run_bare(name, warm_model, warm_dm.train_dataloader(), warmup, device)
    first = next(iter(_batches(warm_dm.train_dataloader(), 1, device)))
    flops = flops_per_image(name, warm_model, first)
    del warm_model, warm_dm, first

    # ---- 1-3, interleaved `repeats` times so that a burst of load on a shared machine hits every path alike;
    # the minimum of each path is reported (the least disturbed run), every time is kept in the JSON.
    times: dict[str, list[float]] = {
        "project": [], "project_epoch": [], "bare": [], "plain": [], "data_in_memory": [], "data_plain": [],
    }
    project_images = steps * batch
    rss_project = 0.0
    plain_failed = False
    loader = None
    for _ in range(repeats):
        # 1. project path: exactly the CLI's call on a fresh DataModule (so fit's clock includes reading the
        # files, as the CLI's does), wall time as fit returns it.
        dm = make_datamodule(name, budget, data_dir)
        pl.seed_everything(seed, verbose=False)
        clock = _epoch_clock()
        project_s, _ = fit(
            make_model(name, budget), dm, budget, name=name, progress_bar=True, print_epochs=True, callbacks=[clock], **fit_kwargs
        )
        times["project"].append(project_s)
        times["project_epoch"].append(clock.seconds)
        rss_project = max(rss_project, peak_rss_mb())

        # 2. bare loop: the same module (fresh, same seed), the same optimisers, the same DataModule.
        pl.seed_everything(seed, verbose=False)
        bare_s, bare_images = run_bare(name, make_model(name, budget), dm.train_dataloader(), steps, device)
        times["bare"].append(bare_s)
        if bare_images != project_images:
            notes.append(f"bare loop saw {bare_images} images, project path {project_images}")

        # 3. data path: the same bare loop fed by a plain torchvision pipeline; and both loaders alone.
        # An in-memory pass takes about a millisecond, so one preemption on a busy machine would be most of
        # it: keep the fastest of several passes.
        times["data_in_memory"].append(min(data_only(dm.train_dataloader(), steps)[0] for _ in range(5)))
        if plain_failed:
            continue
        try:
            if loader is None:
                loader = plain_loader(name, resolve_data_dir(data_dir), batch, dm.value_range)
            pl.seed_everything(seed, verbose=False)
            plain_s, plain_images = run_bare(name, make_model(name, budget), loader, steps, device)
            times["plain"].append(plain_s)
            times["data_plain"].append(data_only(loader, steps)[0])
        except Exception as exc:  # noqa: BLE001 -- a missing torchvision layout must not lose the other numbers
            plain_failed = True
            notes.append(f"plain torchvision data path unavailable: {type(exc).__name__}: {exc}")
    project_s, bare_s = min(times["project"]), min(times["bare"])
    epoch_s = min(times["project_epoch"])
    plain = _timed(min(times["plain"]), project_images) if times["plain"] else None
    data_pass: dict[str, Any] = {"in_memory": _timed(min(times["data_in_memory"]), project_images)}
    if times["data_plain"]:
        data_pass["plain"] = _timed(min(times["data_plain"]), project_images)
        data_pass["speedup"] = data_pass["plain"]["time_s"] / data_pass["in_memory"]["time_s"]

    # ---- 8. bf16-mixed project path (warmed up separately: autocast picks other kernels)
    bf16_result: dict[str, Any] | None = None
    if bf16:
        b16 = dataclasses.replace(budget, precision="bf16-mixed")
        wb16 = dataclasses.replace(warm_budget, precision="bf16-mixed")
        pl.seed_everything(seed, verbose=False)
        fit(make_model(name, wb16), make_datamodule(name, wb16, data_dir), wb16, name=name, **fit_kwargs)
        b16_times = []
        for _ in range(repeats):
            pl.seed_everything(seed, verbose=False)
            b16_s, _ = fit(make_model(name, b16), make_datamodule(name, b16, data_dir), b16, name=name, progress_bar=True, print_epochs=True, **fit_kwargs)
            b16_times.append(b16_s)
        times["project_bf16"] = b16_times
        bf16_result = {**_timed(min(b16_times), project_images), "ratio_bf16_over_fp32": min(b16_times) / project_s}

    # ---- 7. full-profile estimate: per-step time of the project path x the profile's steps
    full_train = full.train_size if full.train_size is not None else n_train
    full_steps = full.epochs * math.ceil(full_train / full.batch_size)
    per_step = project_s / steps

    project = _timed(project_s, project_images)
    bare = _timed(bare_s, project_images)
    ratio = project_s / bare_s  # the same images on both paths, so the time ratio is the time-per-image ratio
    return {
        "model": name,
        "dataset": dm.train_set.name,
        "device": str(device),
        "batch_size": batch,
        "steps": steps,
        "epoch_steps": epoch_steps,
        "warmup_steps": warmup,
        "project": {**project, "time_per_step_s": per_step},
        "bare": bare,
        "ratio_project_over_bare": ratio,
        "ratio_target": RATIO_TARGETS.get(name, DEFAULT_RATIO_TARGET),
        # fit's epoch alone against the bare loop, and fit's fixed cost per call (see _epoch_clock)
        "project_epoch_s": epoch_s,
        "ratio_epoch_over_bare": epoch_s / bare_s,
        "fit_fixed_s": project_s - epoch_s,
        "plain_data": plain,
        "data_path_speedup": plain["time_s"] / bare_s if plain else None,
        "data_path_target": DATA_SPEEDUP_TARGETS.get(name),
        "data_only": data_pass,
        "flops_per_image": flops,
        "gflops_per_image": flops / 1e9,
        "achieved_gflops": flops * project["images_per_s"] / 1e9,
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_mb_project": rss_project,
        "rss_after_imports_mb": rss_imports,
        "data_load_s": load_s,
        "repeats": repeats,
        "times_s": times,
        "full_profile": {"epochs": full.epochs, "steps": full_steps, "estimate_s": per_step * full_steps},
        "bf16": bf16_result,
        "notes": notes,
    }


# --------------------------------------------------------------------------------------------- driver


def _child_command(name: str, args: argparse.Namespace, steps: int | None, warmup: int) -> list[str]:
    cmd = [sys.executable, "-m", "fundamentalml.bench", "--_child", "--model", name, "--warmup", str(warmup),
           "--seed", str(args.seed), "--repeats", str(args.repeats)]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    if args.bf16:
        cmd.append("--bf16")
    if args.data_dir:
        cmd += ["--data_dir", str(args.data_dir)]
    return cmd


def run_child(name: str, args: argparse.Namespace, steps: int | None, warmup: int) -> dict[str, Any]:
    """Measure ``name`` in a fresh process of this module; its progress goes to our stderr."""
    proc = subprocess.run(_child_command(name, args, steps, warmup), stdout=subprocess.PIPE, text=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER):])
    return {"model": name, "error": f"the measuring process exited with {proc.returncode} and no result (see its output above)"}


def _add_peak_shares(result: dict[str, Any], peaks: dict[str, float | None]) -> None:
    """Achieved FLOP/s as a percentage of the matmul rates measured in this run (fp32 run vs fp32 matmul, bf16-mixed
    run vs bf16 matmul, the latter only where a bf16 rate was measured and ``--bf16`` ran)."""
    achieved = result["achieved_gflops"] * 1e9
    result["pct_fp32_peak"] = 100.0 * achieved / peaks["fp32"] if peaks.get("fp32") else None
    b16 = result.get("bf16")
    result["pct_bf16_peak"] = (
        100.0 * result["flops_per_image"] * b16["images_per_s"] / peaks["bf16"] if b16 and peaks.get("bf16") else None
    )


def _fmt(value: Any, spec: str, width: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-".rjust(width)
    return format(value, spec).rjust(width)


def _target(relation: str, value: float | None, spec: str, width: int) -> str:
    return ("-" if value is None else f"{relation}{value:{spec}}").rjust(width)


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


def format_table(report: dict[str, Any]) -> str:
    """The readable summary: one row per model, the targets beside the ratios, then the notes."""
    bf16 = any(r.get("bf16") for r in report["models"].values())
    head = (
        f"{'model':<11}{'img/s proj':>11}{'img/s bare':>11}{'proj/bare':>10}{'target':>8}{'epoch/bare':>11}{'fixed s':>8}"
        f"{'data x':>8}{'target':>8}{'GFLOP/img':>10}{'% fp32':>8}{'RSS MB':>8}{'full est.':>11}"
        + (f"{'bf16/fp32':>10}" if bf16 else "")
    )
    lines = [head, "-" * len(head)]
    for name, r in report["models"].items():
        if "error" in r:
            lines.append(f"{name:<11}  ERROR: {r['error']}")
            continue
        row = (
            f"{name:<11}{_fmt(r['project']['images_per_s'], ',.0f', 11)}{_fmt(r['bare']['images_per_s'], ',.0f', 11)}"
            f"{_fmt(r['ratio_project_over_bare'], '.3f', 10)}{_target('<=', r['ratio_target'], '.2f', 8)}"
            f"{_fmt(r['ratio_epoch_over_bare'], '.3f', 11)}{_fmt(r['fit_fixed_s'], '.2f', 8)}"
            f"{_fmt(r['data_path_speedup'], '.2f', 8)}{_target('>=', r['data_path_target'], '.1f', 8)}"
            f"{_fmt(r['gflops_per_image'], '.4f', 10)}{_fmt(r.get('pct_fp32_peak'), '.1f', 8)}"
            f"{_fmt(r['peak_rss_mb_project'], '.0f', 8)}{_duration(r['full_profile']['estimate_s']).rjust(11)}"
        )
        if bf16:
            row += _fmt((r.get("bf16") or {}).get("ratio_bf16_over_fp32"), ".2f", 10)
        lines.append(row)
    m, peaks = report["machine"], report["peaks"]
    lines += [
        "",
        f"Machine: {m['cpu_model']}, {m['torch_threads']} torch threads of {m['logical_cpus']} CPUs, capability "
        f"{m['cpu_capability'] or '?'}, AVX-512 BF16 {'yes' if m['avx512_bf16'] else 'no'}, AMX {'yes' if m['amx'] else 'no'}; "
        f"torch {m['torch']}, Lightning {m['pytorch_lightning']}; load average {m.get('load_average')} at start, "
        f"{report.get('load_average_end')} at end.",
        f"Matmul reference ({peaks['matmul_n']}x{peaks['matmul_n']}): fp32 {peaks['fp32'] / 1e9:.1f} GFLOP/s"
        + (f", bf16 {peaks['bf16'] / 1e9:.1f} GFLOP/s" if peaks.get("bf16") else " (bf16 not measured: no AVX-512 BF16/AMX)")
        + ".",
        TRAINING_ONLY_NOTE,
        "Columns: img/s proj = fit() on the real data; img/s bare = the same modules, optimisers and batches in a "
        "plain loop; proj/bare = time per image ratio (target: at most); epoch/bare = the same for fit's training epoch alone, "
        "and fixed s = the rest of fit's time (Trainer set-up and teardown: a cost per call, not per step; fit reads the dataset before its clock starts); data x = time per image of the bare loop "
        "fed by torchvision's per-image ToTensor pipeline / fed by the in-memory DataModule (target: at least); "
        "% fp32 = FLOP/s achieved by the project path / the fp32 matmul rate; RSS MB = peak resident memory of the "
        "measuring process after the project path; full est. = project time per step x the full profile's steps.",
    ]
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
            f"{name}: {r['steps']} timed steps x {r['repeats']} repeat(s) after {r['warmup_steps']} warm-up; data-only "
            f"pass: in-memory {dp['in_memory']['images_per_s']:,.0f} img/s{plain}; reading the dataset files takes "
            f"{r['data_load_s']:.2f} s, before fit's clock starts; RSS after imports alone {r['rss_after_imports_mb']:.0f} MB."
        )
    return "\n".join(lines)


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Measure every requested model (each in its own process) and return the whole report."""
    names = args.models or list(QUICK_MODELS if args.quick else MODEL_ORDER)
    steps = args.steps if args.steps is not None else (QUICK_STEPS if args.quick else None)
    warmup = args.warmup if args.warmup is not None else (3 if args.quick else 5)
    info = machine_info()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    seconds = 0.5 if args.quick else 1.0
    n = 2048
    peaks: dict[str, Any] = {"matmul_n": n, "fp32": matmul_rate(torch.float32, seconds, n, device), "bf16": None}
    if has_fast_bf16(info) or device == "cuda":
        peaks["bf16"] = matmul_rate(torch.bfloat16, seconds, n, device)
    report: dict[str, Any] = {
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "fundamentalml.bench", *sys.argv[1:]]),
        "settings": {
            "models": names, "steps": steps, "warmup": warmup, "repeats": args.repeats, "quick": args.quick,
            "bf16": args.bf16, "seed": args.seed,
        },
        "machine": info,
        "peaks": peaks,
        "training_only": TRAINING_ONLY_NOTE,
        "models": {},
    }
    for name in names:
        print(f"--- measuring {name} (fresh process) ---", file=sys.stderr, flush=True)
        result = run_child(name, args, steps, warmup)
        if "error" not in result:
            _add_peak_shares(result, peaks)
        report["models"][name] = result
    with contextlib.suppress(OSError):
        report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


# --------------------------------------------------------------------------------------------- quality


def run_quality(args: argparse.Namespace) -> dict[str, Any]:
    """Train the CNN VAE at fp32 and at bf16-mixed (same seed, same data) and compare test -ELBO.

    ``--epochs`` sets the epochs (default: the full profile's), ``--steps`` limits the training images to
    ``steps x batch`` and ``--eval_size`` the test images, for short trials.
    """
    from .metrics import evaluate_vae
    from .profiles import get_budget
    from .training import train_model

    name = "vae-cnn"
    full = get_budget(name, "full")
    overrides: dict[str, Any] = {"epochs": args.epochs or full.epochs}
    if args.steps is not None:
        overrides["train_size"] = args.steps * full.batch_size
    if args.eval_size is not None:
        overrides["eval_size"] = args.eval_size
    rows = {}
    for precision in ("32-true", "bf16-mixed"):
        run = train_model(
            name, "full", data_dir=args.data_dir, seed=args.seed, budget_overrides={**overrides, "precision": precision},
            # No validation loop: the test -ELBO below is the comparison, and the training times stay comparable.
            trainer_kwargs={"limit_val_batches": 0, **({"devices": 1} if torch.cuda.is_available() else {})},
        )
        scores = evaluate_vae(run.model, run.datamodule.test_dataloader(), seed=args.seed)
        rows[precision] = {"test_neg_elbo": scores["neg_elbo"], "n_test_images": scores["n_images"], "train_time_s": run.train_time_s}
    fp32, b16 = rows["32-true"], rows["bf16-mixed"]
    return {
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "model": name,
        "budget": {k: v for k, v in {**full.to_dict(), **overrides}.items() if k != "precision"},
        "validation": "off (limit_val_batches=0)",
        "seed": args.seed,
        "machine": machine_info(),
        "precisions": rows,
        "neg_elbo_difference_bf16_minus_fp32": b16["test_neg_elbo"] - fp32["test_neg_elbo"],
        "time_ratio_bf16_over_fp32": b16["train_time_s"] / fp32["train_time_s"],
    }


# --------------------------------------------------------------------------------------------- book build


# Log lines of myst-nb's cache executor (myst_nb/core/execute/cache.py) and the book's own report line
# (book/_ext/fml_book.py, REPORT_PREFIX).
_EXECUTING = re.compile(r"Executing notebook using (?:local|temporary) CWD")
_EXECUTED = re.compile(r"Executed notebook in ([\d.]+) seconds")
_FROM_CACHE = re.compile(r"Using cached notebook: ID=")
_FAILED = re.compile(r"Executing notebook failed")
_BOOK_REPORT = re.compile(r"fundamentalml-book: (\d+) notebook\(s\) executed")
# Sphinx's "updating environment: [reason] N added, N changed, N removed" (sphinx/builders/__init__.py).
_SOURCES = re.compile(r"(\d+) added, (\d+) changed, (\d+) removed")


def parse_book_output(output: str) -> dict[str, Any]:
    """Count the notebooks a ``jupyter-book build`` executed, served from the cache, or failed to execute."""
    report = _BOOK_REPORT.search(output)
    sources = _SOURCES.search(output)
    return {
        # pages Sphinx read again; an unchanged page is not read, so myst-nb neither executes nor looks it up
        "sources_read": int(sources.group(1)) + int(sources.group(2)) if sources else None,
        "executed": len(_EXECUTING.findall(output)),
        "execution_seconds": sum(float(s) for s in _EXECUTED.findall(output)),
        "from_cache": len(_FROM_CACHE.findall(output)),
        "failed": len(_FAILED.findall(output)),
        "executed_per_book_report": int(report.group(1)) if report else None,
    }


def copy_repository(src: Path, dest: Path) -> Path:
    """Copy the checkout's tracked and untracked (not ignored) files to ``dest``: no ``_build``, no caches."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=src, capture_output=True, check=True
        ).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        ignore = shutil.ignore_patterns(".venv", "_build", ".git", "__pycache__", ".pytest_cache", "runs", "*.egg-info")
        shutil.copytree(src, dest, ignore=ignore, dirs_exist_ok=True)
        return dest
    for rel in filter(None, listed):
        path = src / rel
        if path.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)
    return dest


def _build_book(root: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", "."]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        output, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        output, code = f"{exc.stdout or ''}{exc.stderr or ''}\nTIMED OUT after {timeout:.0f} s", -1
    except OSError as exc:
        output, code = f"could not run {cmd[0]}: {exc}", -1
    elapsed = time.perf_counter() - start
    result = {"wall_s": elapsed, "returncode": code, **parse_book_output(output)}
    last = root / "_build" / ".fundamentalml" / "last-build.json"
    if last.is_file():
        with contextlib.suppress(ValueError, OSError):
            result["book_report"] = json.loads(last.read_text())
        last.unlink()  # so that the rebuild's report is its own
    if code != 0:
        result["output_tail"] = output[-3000:]
    return result


def run_book(args: argparse.Namespace) -> dict[str, Any]:
    """Time a cold ``jupyter-book build .`` (fresh execution cache, fresh checkpoint cache) and a cached rebuild.

    Both run in a temporary copy of the repository, so the checkout's own ``_build`` is untouched; the copy's
    package is the one the kernels import (``PYTHONPATH``).
    """
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="fml-bench-book-") as tmp:
        root = copy_repository(repo, Path(tmp) / "checkout")
        env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "FUNDAMENTALML_CHECKPOINTS")}
        env.update(
            FUNDAMENTALML_PROFILE=args.profile,
            PYTHONPATH=str(root),
            XDG_CACHE_HOME=str(Path(tmp) / "xdg-cache"),  # no trained checkpoints from earlier runs
            PYTHONDONTWRITEBYTECODE="1",
        )
        print(f"--- cold build ({args.profile} profile) in {root} ---", file=sys.stderr, flush=True)
        cold = _build_book(root, env, args.book_timeout)
        print(f"--- cached rebuild: {cold['wall_s']:.1f} s cold ---", file=sys.stderr, flush=True)
        cached = _build_book(root, env, args.book_timeout) if cold["returncode"] == 0 else None
    return {
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "profile": args.profile,
        "machine": machine_info(),
        "cold": cold,
        "cached": cached,
    }


def format_book(report: dict[str, Any]) -> str:
    """The book timings as a few readable lines."""
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
            f"{b['sources_read']}; "
            f"book's own count: {b['executed_per_book_report']}"
        )
        if b["returncode"] != 0:
            lines.append("  last output:\n" + "\n".join("    " + s for s in b.get("output_tail", "").splitlines()[-15:]))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- CLI


def _parse_models(values: list[str] | None) -> list[str]:
    from .profiles import check_model_name

    names: list[str] = []
    for value in values or []:
        for name in filter(None, (v.strip() for v in value.split(","))):
            check_model_name(name)
            if name not in names:
                names.append(name)
    return names


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m fundamentalml.bench``."""
    p = argparse.ArgumentParser(
        prog="python -m fundamentalml.bench",
        description="Training speed of the package as ratios to a bare PyTorch loop, measured in one run.",
    )
    p.add_argument("--model", dest="model", action="append", metavar="NAME",
                   help=f"model(s) to measure, repeatable or comma-separated: {', '.join(MODEL_ORDER)} (default: all; "
                        f"with --quick: {', '.join(QUICK_MODELS)})")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} timed steps per measurement instead of a full epoch")
    p.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default: one epoch at batch 128)")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up steps per path (default 5, 3 with --quick)")
    p.add_argument("--repeats", type=int, default=1,
                   help="time every path this many times, interleaved, and report the fastest (for a busy machine)")
    p.add_argument("--bf16", action="store_true", help="also time the project path at bf16-mixed")
    p.add_argument("--json", dest="json_path", default=None, help="where to write the JSON (default bench-DATE.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data_dir", "--data-dir", default=None, help="data folder (default $FUNDAMENTALML_DATA)")
    p.add_argument("--quality", action="store_true", help="train vae-cnn at fp32 and bf16-mixed; compare test -ELBO")
    p.add_argument("--epochs", type=int, default=None, help="--quality: epochs (default: the full profile's)")
    p.add_argument("--eval_size", "--eval-size", type=int, default=None, help="--quality: test images (default all)")
    p.add_argument("--book", action="store_true", help="time a cold and a cached jupyter-book build")
    p.add_argument("--profile", default="smoke", choices=("smoke", "cpu", "full"), help="--book: training profile")
    p.add_argument("--book_timeout", "--book-timeout", type=float, default=3600.0, help="--book: seconds per build")
    p.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark (or ``--quality`` / ``--book``), print a table, write JSON; return the report."""
    args = build_parser().parse_args(argv)
    args.models = _parse_models(args.model)
    if args.steps is not None and args.steps < 1:
        raise SystemExit("--steps must be at least 1")

    if args._child:
        if len(args.models) != 1:
            raise SystemExit("--_child measures exactly one --model")
        real_stdout = sys.stdout
        # Everything fit prints goes to stderr; stdout carries only the result line for the parent.
        with contextlib.redirect_stdout(sys.stderr):
            result = measure_model(
                args.models[0], args.steps, args.warmup or 5, args.bf16, args.seed, args.data_dir, max(1, args.repeats)
            )
        print(RESULT_MARKER + json.dumps(result), file=real_stdout, flush=True)
        return result

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    if args.book:
        report, kind = run_book(args), "book"
        text = format_book(report)
    elif args.quality:
        report, kind = run_quality(args), "quality"
        rows = report["precisions"]
        text = "\n".join(
            [f"vae-cnn, {report['budget']['epochs']} epoch(s), seed {report['seed']}:"]
            + [f"  {p:<11} test -ELBO {r['test_neg_elbo']:.2f} nats ({r['n_test_images']} images), training {r['train_time_s']:.1f} s"
               for p, r in rows.items()]
            + [f"  bf16 - fp32: {report['neg_elbo_difference_bf16_minus_fp32']:+.2f} nats; time ratio "
               f"{report['time_ratio_bf16_over_fp32']:.2f}"]
        )
    else:
        report, kind = run_benchmark(args), "bench"
        text = format_table(report)
    path = Path(args.json_path or (f"bench-{stamp}.json" if kind == "bench" else f"bench-{kind}-{stamp}.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    print(text)
    print(f"JSON: {path}")
    return report


if __name__ == "__main__":
    main()

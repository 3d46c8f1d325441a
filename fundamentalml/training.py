"""How models train: the Trainer for a budget, the guard that stops on divergence or a signal, and ``train``.

:func:`train` seeds, builds, trains and returns one model with its metadata; :mod:`fundamentalml.runs`
decides whether to call it (or to load a checkpoint or the shipped weights instead).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import signal
import sys
import textwrap
import threading
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, TQDMProgressBar
from pytorch_lightning.utilities.model_helpers import is_overridden

from .checkpoints import save_checkpoint
from .data import ImageDataModule
from .models import HistoryModule
from .profiles import Budget, cpu_flags, resolve_precision
from .registry import ModelSpec


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message says at which step, and where the last good weights are."""


class TrainingInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped training; nothing was written. ``exit_code`` is 130 or 143 (128 + signal)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


# --------------------------------------------------------------------------------------------- speed


def flush_denormals_enabled() -> bool:
    """``True`` when the calling thread flushes denormal floats to zero.

    torch has a setter but no getter, so read it off the hardware: with denormals-are-zero on, multiplying a
    subnormal number gives exactly 0.
    """
    return bool((_subnormals(1) * 1.0).item() == 0.0)


def _subnormals(n: int) -> torch.Tensor:
    """``n`` copies of a subnormal float32 (about 1.5e-39), made from its bits: converting ``1e-40`` itself
    would already give 0 on a thread that flushes."""
    return torch.full((n,), SUBNORMAL_BITS, dtype=torch.int32).view(torch.float32)


SUBNORMAL_BITS = 0x00100000  # exponent 0, mantissa not 0: a subnormal float32


def denormal_share(n: int = 1 << 20) -> float:
    """The share of ``n`` subnormal floats still subnormal after an elementwise product spread over torch's
    intra-op threads: 0 when every thread flushes them, 1 when none does, in between when only some do."""
    return float(((_subnormals(n) * 1.0) != 0).float().mean())


@functools.lru_cache(maxsize=1)
def _openmp_runtime() -> Any:
    """The OpenMP runtime of torch's intra-op threads, as loaded in this process (``ctypes.CDLL``), or ``None``
    where it cannot be found (no ``/proc/self/maps``, or several runtimes and none of them torch's own).

    libgomp, LLVM's libomp and Intel's libiomp5 all export ``GOMP_parallel``, the call behind an
    ``omp parallel`` region compiled by GCC.
    """
    import ctypes

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    names = ("libgomp", "libomp", "libiomp5")
    paths = sorted({line.split()[-1] for line in maps.splitlines()
                    if line.split()[-1].startswith("/") and Path(line.split()[-1]).name.startswith(names)})
    own = [p for p in paths if Path(p).parent == Path(torch.__file__).parent / "lib"]
    chosen = own or paths
    if len(chosen) != 1:
        return None
    try:
        runtime = ctypes.CDLL(chosen[0])
        parallel = runtime.GOMP_parallel
    except (OSError, AttributeError):
        return None
    parallel.argtypes = [ctypes.CFUNCTYPE(None, ctypes.c_void_p), ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
    parallel.restype = None
    return runtime


def set_flush_denormals(on: bool) -> bool:
    """Flush denormals to zero (or stop) on every thread torch computes on; ``True`` when every thread now does.

    ``torch.set_flush_denormal`` sets the calling thread's control register only, and the threads of torch's
    OpenMP pool keep the one they started with: with 2 threads, half of every parallel operation went on
    computing subnormals in slow microcode. So one parallel region of the pool's size runs the same switch on
    each of its threads (threads started later copy this thread's register). Where the OpenMP runtime cannot
    be reached, only this thread is set, and the answer says whether that sufficed.
    """
    import ctypes

    torch.set_flush_denormal(on)
    runtime, threads = _openmp_runtime(), torch.get_num_threads()
    if runtime is not None and threads > 1:
        switch = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda _: torch.set_flush_denormal(on))
        runtime.GOMP_parallel(switch, None, threads, 0)  # each thread of the team runs it once, then they join
    share = denormal_share()
    return share == 0.0 if on else share == 1.0


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush denormal floats to zero on every thread torch computes on inside the block, then restore the
    caller's setting (this thread's, which new threads copy).

    As training goes on, some weights and activations become subnormal (below ~1e-38); x86 CPUs handle those
    in slow microcode, and an MLP VAE epoch slows from 1.8 s to 3 s. Flushing them changes no result that
    matters (same -ELBO) and keeps every epoch fast. Scoped, because a process-wide switch would surprise
    the caller's own numerical code. See :func:`set_flush_denormals` for why every thread.
    """
    before = flush_denormals_enabled()
    set_flush_denormals(True)
    try:
        yield
    finally:
        set_flush_denormals(before)


NVML_CHECK_ENV = "PYTORCH_NVML_BASED_CUDA_CHECK"


@contextlib.contextmanager
def no_gpu_probing() -> Iterator[None]:
    """On a machine with no GPU, stop ``torch.cuda.is_available()`` from loading NVML at every call inside the block.

    Importing Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` (so that asking whether there is a GPU never
    initialises CUDA before a fork). torch then answers every ``is_available()`` by loading the NVML library
    anew, about 0.1 ms, and Adam asks once per ``step()``: a tax on every step of a CPU run that a plain PyTorch
    script does not pay. Where NVML (or the CUDA runtime) finds no device, there is nothing a fork could
    poison, so the variable is lifted for the block and put back after. With a GPU nothing changes.
    """
    if os.environ.get(NVML_CHECK_ENV) != "1" or torch.cuda.device_count() > 0:
        yield
        return
    os.environ.pop(NVML_CHECK_ENV)
    try:
        yield
    finally:
        os.environ[NVML_CHECK_ENV] = "1"


# --------------------------------------------------------------------------------------------- trainer


class EpochPrinter(Callback):
    """Prints one line per finished epoch (costs nothing per step, unlike per-step logging)."""

    def __init__(self, name: str = "", stream=None) -> None:
        self.name, self.stream, self._printed = name, stream, 0

    def _print_new(self, module: HistoryModule, total: int) -> None:
        history = module.history
        n = len(history.get("epoch", []))
        while self._printed < n:
            i = self._printed
            parts = [f"{k} {v[i]:.4g}" for k, v in history.items() if k not in ("epoch", "time_s") and len(v) > i]
            # Wrapped to 88 columns: a notebook's output cell would otherwise scroll sideways.
            body = textwrap.fill("  ".join(parts), width=88, initial_indent="    ", subsequent_indent="    ")
            print(
                f"[{self.name}] epoch {int(history['epoch'][i])}/{total} ({history['time_s'][i]:.1f} s)\n{body}",
                file=self.stream or sys.stdout,
                flush=True,
            )
            self._printed += 1

    def on_train_start(self, trainer: pl.Trainer, pl_module: HistoryModule) -> None:  # noqa: D102
        self._printed = len(pl_module.history.get("epoch", []))

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: HistoryModule) -> None:  # noqa: D102
        if trainer.is_global_zero:
            self._print_new(pl_module, trainer.max_epochs)

    def on_train_end(self, trainer: pl.Trainer, pl_module: HistoryModule) -> None:  # noqa: D102
        if trainer.is_global_zero:
            self._print_new(pl_module, trainer.max_epochs)


class EpochWeights(Callback):
    """Writes the model's weights after every training epoch to ``folder/epoch-NN.pt`` (for per-epoch metrics)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: HistoryModule) -> None:  # noqa: D102
        if trainer.is_global_zero:
            epoch = trainer.current_epoch + 1  # callbacks run before the module's own epoch-end hook
            if all(bool(torch.isfinite(p).all()) for p in pl_module.parameters()):
                save_checkpoint(pl_module, self.folder / f"epoch-{epoch:02d}.pt", epoch=epoch)


class RunGuard(Callback):
    """Stops training at the next step when a loss turns NaN or infinite, or when SIGINT/SIGTERM arrives.

    Every model is watched, VAEs included: the loss each ``training_step`` returns is checked every step on a
    CPU (free there) and every ``check_every`` steps on an accelerator (a check makes the device wait), and
    all weights are checked at the end of each epoch, so a NaN between two checks is still caught. The
    decision is shared by all processes of a multi-process run (``reduce_boolean_decision``), so they stop
    together instead of leaving the others waiting. The weights at the end of the last good epoch are kept,
    and put back when training diverged.
    """

    def __init__(self, check_every: int = 25) -> None:
        self.check_every = check_every
        self.diverged: str | None = None
        self.signum: int | None = None
        self._last_good: dict[str, torch.Tensor] | None = None
        self._good_epochs = 0
        self._steps = 0
        self._previous_handlers: dict[int, Any] = {}

    # ---- signals
    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            print(f"\n{signal.Signals(signum).name} received: stopping after this step; nothing of this run will be kept.", file=sys.stderr, flush=True)
        self.signum = signum

    def install_signal_handlers(self) -> None:
        """Catch SIGINT and SIGTERM (main thread only) until :meth:`restore_signal_handlers`."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def restore_signal_handlers(self) -> None:
        """Put back the handlers that were there before."""
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    # ---- Lightning hooks
    def on_fit_start(self, trainer: pl.Trainer, pl_module: HistoryModule) -> None:  # noqa: D102
        self._last_good = _copy_state(pl_module)
        self._good_epochs = len(pl_module.history.get("epoch", []))

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: HistoryModule, outputs: Any, batch: Any, batch_idx: int) -> None:  # noqa: D102
        self._steps += 1
        on_cpu = pl_module.device.type == "cpu" and trainer.world_size == 1
        if not on_cpu and batch_idx % self.check_every:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        bad = loss is not None and not _finite(loss)
        if bad and self.diverged is None:
            self.diverged = (
                f"{type(pl_module).__name__} training diverged at step {self._steps} "
                f"(epoch {trainer.current_epoch + 1}, batch {batch_idx + 1}): the loss is {float(torch.as_tensor(loss).float().mean())}."
            )
        self._decide(trainer, bad)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: HistoryModule) -> None:  # noqa: D102
        bad = not all(bool(torch.isfinite(p).all()) for p in pl_module.parameters())
        if bad and self.diverged is None:
            self.diverged = (
                f"{type(pl_module).__name__} training diverged in epoch {trainer.current_epoch + 1}: "
                f"its weights hold NaN or infinite values."
            )
        self._decide(trainer, bad)
        if not trainer.should_stop:
            self._last_good = _copy_state(pl_module)
            self._good_epochs = trainer.current_epoch + 1

    def _decide(self, trainer: pl.Trainer, bad: bool) -> None:
        stop = bad or self.signum is not None
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            trainer.should_stop = True
            if self.diverged is None and self.signum is None:
                self.diverged = "training diverged in another process of this run."

    def restore_last_good(self, pl_module: HistoryModule) -> bool:
        """Put back the weights of the last finished good epoch (the initial ones before the first)."""
        if self._last_good is None:
            return False
        pl_module.load_state_dict(self._last_good)
        # The history (and a GAN's sample snapshots) must describe those weights, not the failed epoch.
        n = self._good_epochs
        pl_module.history = {k: v[:n] for k, v in pl_module.history.items()}
        snapshots = getattr(pl_module, "snapshots", None)
        if isinstance(snapshots, list):
            del snapshots[n + 1 :]
        return True


def _finite(value: Any) -> bool:
    """``True`` when every value of ``value`` (a tensor or a number) is finite. A one-element tensor, the loss of
    every step, is read as one Python float: one operation instead of three, every step."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return math.isfinite(value.item())
    return bool(torch.isfinite(torch.as_tensor(value)).all())


def _copy_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def quiet_lightning() -> None:
    """Silence Lightning's start-up chatter (GPU/TPU availability, tips); warnings and errors still show."""
    for logger_name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(logger_name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # GANs have no validation loss; fit() skips their validation loop on purpose.
    warnings.filterwarnings("ignore", message=r".*You passed in a `val_dataloader` but have no `validation_step`")
    # The models log once per epoch (never per step), so the logging interval does not matter.
    warnings.filterwarnings("ignore", message=r".*is smaller than the logging interval")


def build_trainer(
    budget: Budget,
    *,
    name: str = "",
    progress_bar: bool = True,
    print_epochs: bool = True,
    accelerator: str = "auto",
    devices: int | str | list[int] = "auto",
    strategy: str = "auto",
    num_nodes: int = 1,
    callbacks: list[Callback] | None = None,
    logger: Any = False,
    **trainer_kwargs: Any,
) -> pl.Trainer:
    """Return a ``pl.Trainer`` for ``budget`` that spends its time on the model, not on bookkeeping.

    No logger unless one is given (the CLI passes a ``CSVLogger``: one row per epoch, so it costs nothing per
    step), no automatic checkpointing (we write our own, atomically), no sanity validation; a progress
    bar refreshed a few times an epoch instead of every step, and one printed line per epoch.
    ``devices``, ``strategy`` and ``num_nodes`` go straight to Lightning, so DDP needs no code change.
    """
    quiet_lightning()
    callbacks = list(callbacks or [])
    if progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=25))
    if print_epochs:
        callbacks.append(EpochPrinter(name))
    return pl.Trainer(
        max_epochs=budget.epochs,
        precision=budget.precision,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        num_nodes=num_nodes,
        logger=logger,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress_bar,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        **trainer_kwargs,
    )


# --------------------------------------------------------------------------------------------- training


def fit(
    model: HistoryModule,
    datamodule: ImageDataModule,
    budget: Budget,
    *,
    name: str = "",
    progress_bar: bool = True,
    print_epochs: bool = True,
    **trainer_kwargs: Any,
) -> tuple[float, pl.Trainer]:
    """Train ``model`` on ``datamodule`` for ``budget``; return ``(wall-clock seconds, trainer)``.

    Denormals are flushed for the duration (see :func:`flush_denormals`). This is the bare Lightning call;
    :func:`train` adds seeding, the divergence and signal guard, and the run's metadata.
    """
    if not is_overridden("validation_step", model):
        trainer_kwargs.setdefault("limit_val_batches", 0)  # GANs have no validation loss; skip the loop quietly
    trainer = build_trainer(budget, name=name, progress_bar=progress_bar, print_epochs=print_epochs, **trainer_kwargs)
    # Read the dataset before the clock starts: the reported time is training, not file loading.
    datamodule.prepare_data()
    datamodule.setup("fit")
    with flush_denormals(), no_gpu_probing():
        start = time.perf_counter()
        trainer.fit(model, datamodule=datamodule)
        elapsed = time.perf_counter() - start
    model.eval()
    return elapsed, trainer


@dataclass
class Trained:
    """What :func:`train` returns: the model (eval mode), its data, its budget and the run's metadata."""

    model: HistoryModule
    datamodule: ImageDataModule
    budget: Budget
    meta: dict[str, Any]
    is_global_zero: bool = True


def train(
    spec: ModelSpec,
    budget: Budget,
    *,
    profile: str,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    dataset: str | None = None,
    last_good_dir: str | os.PathLike | None = None,
    keep_epochs_dir: str | os.PathLike | None = None,
    progress_bar: bool = True,
    print_epochs: bool = True,
    trainer_kwargs: dict[str, Any] | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> Trained:
    """Seed, build and train the model of ``spec`` for ``budget``; nothing is written except on request.

    Args:
        spec: the model's registry entry.
        budget: how long and at what precision (``spec.budget(profile)``, possibly with overrides).
        profile: the profile name recorded in the metadata (``"custom"`` when the budget was overridden).
        data_dir: where the data lives (see :func:`fundamentalml.data.resolve_data_dir`).
        seed: seeds weights, data order and sampling; the same seed gives the same numbers on one machine.
        dataset: an alternative dataset the model allows (``"fashion-mnist"``).
        last_good_dir: where to write ``NAME.last-good.pt`` if training diverges (beside, never over, ``NAME.pt``).
        keep_epochs_dir: write the weights after every epoch there (for per-epoch metrics).
        trainer_kwargs: extra ``pl.Trainer`` arguments (``devices``, ``strategy``, ``logger``...).
        model_kwargs: the model's "try this" knobs (``latent_dim``, ``beta``, ``batch_norm``...).

    Raises:
        TrainingDiverged: a loss or weight became NaN or infinite (the last good weights are kept).
        TrainingInterrupted: SIGINT or SIGTERM arrived (nothing is written).
    """
    pl.seed_everything(seed, verbose=False)
    # "auto" becomes the precision this machine runs well (bf16-mixed where bf16 is fast, else fp32), so the
    # Trainer and the run's metadata get a concrete one.
    budget = resolve_precision(spec, budget, None, (trainer_kwargs or {}).get("accelerator", "auto"))
    model = spec.build(budget, **(model_kwargs or {}))
    datamodule = spec.datamodule(budget, data_dir, dataset=dataset)
    trainer_kwargs = dict(trainer_kwargs or {})
    origin = provenance()  # read before training: the checkout may change while a long run trains
    guard = RunGuard()
    callbacks = [*trainer_kwargs.pop("callbacks", []), guard]
    if keep_epochs_dir is not None:
        callbacks.append(EpochWeights(Path(keep_epochs_dir)))
    guard.install_signal_handlers()
    try:
        elapsed, trainer = fit(
            model, datamodule, budget, name=spec.name, progress_bar=progress_bar, print_epochs=print_epochs,
            callbacks=callbacks, **trainer_kwargs,
        )
    except BaseException:  # Lightning answers SIGTERM with its own exception or sys.exit(0): say what happened
        if guard.signum is None:
            raise
    finally:
        guard.restore_signal_handlers()
    if guard.signum is not None:
        name = signal.Signals(guard.signum).name
        raise TrainingInterrupted(f"{spec.name}: training stopped by {name}; nothing was saved.", guard.signum)
    # A "-true" precision (bf16-true) leaves the weights in that dtype; evaluation and the checkpoint use float32.
    if any(p.is_floating_point() and p.dtype != torch.float32 for p in model.parameters()):
        model.float()
    if guard.diverged is not None:
        guard.restore_last_good(model)
        where = ""
        if last_good_dir is not None and trainer.is_global_zero:
            path = save_checkpoint(
                model, Path(last_good_dir) / f"{spec.name}.last-good.pt", name=spec.name, profile=profile, seed=seed,
                diverged=guard.diverged, good_epochs=guard._good_epochs,
            )
            what = (f"the weights at the end of epoch {guard._good_epochs}, the last finished one" if guard._good_epochs
                    else "the untrained initial weights: no epoch finished before the divergence")
            where = f" Kept in {path}: {what}."
        raise TrainingDiverged(f"{guard.diverged}{where} {divergence_advice(model, budget)}")
    meta = {
        "name": spec.name,
        "profile": profile,
        "budget": budget.to_dict(),
        "seed": seed,
        "model_kwargs": dict(model_kwargs or {}),
        "dataset": dataset or spec.dataset,
        "train_time_s": elapsed,
        # 1, 5 and 15 minutes: how busy the machine was while it trained (a busy machine's times are not costs)
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "data": datamodule.describe(),
        "data_fingerprint": datamodule.fingerprint(),
        "data_is_fallback": datamodule.is_fallback,
        "provenance": origin,
    }
    return Trained(model, datamodule, budget, meta, trainer.is_global_zero)


def divergence_advice(model: HistoryModule, budget: Budget) -> str:
    """What to try after a divergence, in flags the command line really has."""
    lr = getattr(model, "lr", None) or budget.lr
    tips = [f"a lower learning rate (--model_args '{{\"lr\": {lr / 10:g}}}'; it was {lr:g})"]
    if budget.precision != "32-true":
        tips.append("full precision (--precision 32-true)")
    hparams = dict(getattr(model, "hparams", {}))
    if hparams.get("batch_norm") is False:
        tips.append("batch norm on (--batch_norm true)")
    return "Try " + ", ".join(tips[:-1]) + (" or " if len(tips) > 1 else "") + tips[-1] + "."


def provenance() -> dict[str, Any]:
    """Where and how a run happened: the command line, the package's git commit, versions and the machine."""
    import platform
    import subprocess

    root = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip() or None
        dirty = bool(subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=10
        ).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    cpu, flags = cpu_flags()
    amx = "amx_bf16" in flags  # bf16 matrix units: a different speed class from AVX-512 alone
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "command": " ".join(["python -m fundamentalml", *sys.argv[1:]]) if Path(sys.argv[0]).name in ("__main__.py", "fundamentalml") else None,
        "commit": commit,
        "commit_dirty": dirty,
        "torch": str(torch.__version__),  # a str subclass otherwise, which weights_only loading refuses
        "lightning": str(pl.__version__),
        "python": platform.python_version(),
        "machine": f"{cpu}, {os.cpu_count()} cores, {torch.backends.cpu.get_cpu_capability()}" + (", AMX" if amx else "") + (f"; GPU {gpu}" if gpu else ""),
    }

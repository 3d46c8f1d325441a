"""How models train: the Trainer for a budget, seeding, timing, atomic checkpoints and safe loading.

``train_model`` is the one entry point the CLI, the chapters and the benchmark share, so a number printed by
``python -m fundamentalml train`` is the number the book shows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, TQDMProgressBar
from pytorch_lightning.utilities.model_helpers import is_overridden

from .data import CIFAR10DataModule, ImageDataModule, MNISTDataModule
from .models import CHECKPOINT_FORMAT, MODEL_CLASSES, HistoryModule, TrainingDiverged
from .profiles import Budget, check_model_name, default_profile, get_budget


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable, not ours, or holds a different model than asked for."""


# --------------------------------------------------------------------------------------------- speed


def flush_denormals_enabled() -> bool:
    """``True`` when the CPU currently flushes denormal floats to zero.

    torch has a setter but no getter, so read it off the hardware: with denormals-are-zero on, multiplying a
    subnormal number gives exactly 0.
    """
    tiny = torch.tensor([1e-40], dtype=torch.float32)
    return bool((tiny * 1.0).item() == 0.0)


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush denormal floats to zero inside the block, then restore the caller's setting.

    As training goes on, some weights and activations become subnormal (below ~1e-38); x86 CPUs handle those
    in slow microcode, and an MLP VAE epoch slows from 1.8 s to 3 s. Flushing them changes no result that
    matters (same -ELBO) and keeps every epoch fast. Scoped, because a process-wide switch would surprise
    the caller's own numerical code.
    """
    before = flush_denormals_enabled()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


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
            print(
                f"[{self.name}] epoch {int(history['epoch'][i])}/{total}  " + "  ".join(parts) + f"  ({history['time_s'][i]:.1f} s)",
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
            save_checkpoint(pl_module, self.folder / f"epoch-{epoch:02d}.pt", epoch=epoch)


def quiet_lightning() -> None:
    """Silence Lightning's start-up chatter (GPU/TPU availability, tips); warnings and errors still show."""
    for logger_name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(logger_name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # GANs have no validation loss; fit() skips their validation loop on purpose.
    warnings.filterwarnings("ignore", message=r".*You passed in a `val_dataloader` but have no `validation_step`")


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
    **trainer_kwargs: Any,
) -> pl.Trainer:
    """Return a ``pl.Trainer`` for ``budget`` that spends its time on the model, not on bookkeeping.

    No logger, no automatic checkpointing (we write our own, atomically), no sanity validation; a progress
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
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress_bar,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        **trainer_kwargs,
    )


# --------------------------------------------------------------------------------------------- checkpoints


def _atomic_write(path: Path, write) -> None:
    """Write through ``write(file_object)`` to a temporary file beside ``path``, then rename it into place.

    A crash or error midway leaves the old file (if any) untouched and no half-written file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; a checkpoint is an ordinary file
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_checkpoint(model: HistoryModule, path: str | os.PathLike, **meta: Any) -> Path:
    """Save ``model`` (class, hyper-parameters, weights, history, ``meta``) to ``path`` atomically."""
    path = Path(path)
    payload = model.checkpoint_dict(**meta)
    _atomic_write(path, lambda f: torch.save(payload, f))
    return path


def save_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    path = Path(path)
    _atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2, sort_keys=True).encode()))
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint file safely (``weights_only=True``) and check that it is a FundamentalML checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}. Train one with: python -m fundamentalml train MODEL --out DIR")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- any failure here means the same thing to the user
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(exc).__name__}: {str(exc)[:200]}). It may be truncated or "
            f"not a torch file; delete it and train again."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format", "no 'format' key") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not a FundamentalML checkpoint (expected format {CHECKPOINT_FORMAT!r}, found {found!r}). "
            f"Checkpoints from other tools (e.g. a Lightning .ckpt) cannot be loaded; train with "
            f"python -m fundamentalml train MODEL."
        )
    return payload


def load_checkpoint(path: str | os.PathLike, expected: str | type | None = None) -> HistoryModule:
    """Rebuild a model from a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the ``.pt`` file.
        expected: a model name (``"vae-mlp"``) or class; loading a checkpoint of another model raises.

    Raises:
        CheckpointError: the file is missing, unreadable, foreign, of another model, or its weights do not fit.
    """
    payload = read_checkpoint(path)
    by_class = {cls.__name__: (name, cls) for name, cls in MODEL_CLASSES.items()}
    class_name = payload.get("model_class")
    if class_name not in by_class:
        raise CheckpointError(f"{path} holds an unknown model class {class_name!r}; known: {sorted(by_class)}.")
    name, cls = by_class[class_name]
    if expected is not None:
        want = expected if isinstance(expected, str) else next((n for n, c in MODEL_CLASSES.items() if c is expected), expected.__name__)
        if want != name:
            raise CheckpointError(f"{path} holds a {name} ({class_name}) model, not the {want} that was asked for.")
    try:
        model = cls(**payload["hparams"])
        model.load_state_dict(payload["state_dict"])
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{path}: the stored weights do not fit a {class_name} ({exc}).") from exc
    model.history = {k: list(v) for k, v in payload.get("history", {}).items()}
    model.step_history = {k: list(v) for k, v in payload.get("step_history", {}).items()}
    model.restore_extra(payload.get("extra", {}))
    model.checkpoint_meta = payload.get("meta", {})
    model.eval()
    return model


# --------------------------------------------------------------------------------------------- training


@dataclass
class TrainingRun:
    """What one training run produced.

    Attributes:
        name: model name (``"vae-mlp"``...).
        model: the trained LightningModule (in eval mode).
        datamodule: the data it trained on.
        budget: the budget it ran under.
        profile: profile name, or ``"custom"``.
        train_time_s: wall-clock seconds of ``Trainer.fit``.
        checkpoint: where it was saved, if anywhere.
        loaded: ``True`` when the model came from a cached checkpoint instead of training.
    """

    name: str
    model: HistoryModule
    datamodule: ImageDataModule
    budget: Budget
    profile: str
    train_time_s: float
    seed: int
    checkpoint: Path | None = None
    loaded: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def history(self) -> dict[str, list[float]]:
        """Per-epoch training history (``train_loss``, ``val_loss``, ``time_s``, ...)."""
        return self.model.history


def make_datamodule(name: str, budget: Budget, data_dir: str | os.PathLike | None = None, dataset: str = "mnist") -> ImageDataModule:
    """Return the DataModule that ``name`` trains on, sized by ``budget``."""
    check_model_name(name)
    common = dict(data_dir=data_dir, batch_size=budget.batch_size, train_size=budget.train_size, eval_size=budget.eval_size)
    if name == "dcgan":
        return CIFAR10DataModule(**common, fallback_to_digits=True)
    value_range = "symmetric" if name == "cgan" else "unit"
    return MNISTDataModule(**common, dataset=dataset, value_range=value_range)


def make_model(name: str, budget: Budget | None = None, **model_kwargs: Any) -> HistoryModule:
    """Build model ``name`` with the seed's defaults, the budget's learning rate, and any ``model_kwargs``."""
    check_model_name(name)
    if name not in MODEL_CLASSES:
        raise ValueError(f"Model {name!r} is not available in this version of the package.")
    if budget is not None:
        model_kwargs.setdefault("lr", budget.lr)
    return MODEL_CLASSES[name](**model_kwargs)


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

    Denormals are flushed for the duration (see :func:`flush_denormals`).
    """
    if not is_overridden("validation_step", model):
        trainer_kwargs.setdefault("limit_val_batches", 0)  # GANs have no validation loss; skip the loop quietly
    trainer = build_trainer(budget, name=name, progress_bar=progress_bar, print_epochs=print_epochs, **trainer_kwargs)
    # Read the dataset before the clock starts: the reported time is training, not file loading.
    datamodule.prepare_data()
    datamodule.setup("fit")
    with flush_denormals():
        start = time.perf_counter()
        trainer.fit(model, datamodule=datamodule)
        elapsed = time.perf_counter() - start
    model.eval()
    return elapsed, trainer


def train_model(
    name: str,
    profile: str | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    dataset: str = "mnist",
    budget_overrides: dict[str, Any] | None = None,
    precision: str | None = None,
    keep_epochs: bool = False,
    progress_bar: bool = True,
    print_epochs: bool = True,
    trainer_kwargs: dict[str, Any] | None = None,
    **model_kwargs: Any,
) -> TrainingRun:
    """Seed, build, train and (optionally) checkpoint model ``name`` under ``profile``.

    Args:
        name: one of ``vae-mlp``, ``vae-cnn`` (and the other models as they land).
        profile: ``smoke``, ``cpu`` or ``full``; default :func:`~fundamentalml.profiles.default_profile`.
        data_dir: where the data lives (see :func:`fundamentalml.data.resolve_data_dir`).
        seed: seeds weights, data order and sampling; the same seed gives the same numbers on one machine.
        out_dir: if given, the checkpoint is written to ``out_dir/NAME.pt`` (atomically, after training).
        dataset: ``"mnist"`` or ``"fashion-mnist"`` for the MNIST models.
        budget_overrides: replace budget fields, e.g. ``{"epochs": 2}`` (the run's profile becomes ``"custom"``).
        precision: a Trainer setting (``"bf16-mixed"``...); it does not change the profile.
        keep_epochs: also write the weights after every epoch to ``out_dir/NAME.epochs/`` (for per-epoch metrics).
        trainer_kwargs: extra ``pl.Trainer`` arguments (``devices``, ``strategy``, ``num_nodes``...).
        **model_kwargs: the model's "try this" knobs (``latent_dim``, ``beta``, ``batch_norm``...).
    """
    profile = profile or default_profile()
    budget = get_budget(name, profile, **(budget_overrides or {}))
    if precision is not None:
        budget = replace(budget, precision=precision)
    pl.seed_everything(seed, verbose=False)
    model = make_model(name, budget, **model_kwargs)
    datamodule = make_datamodule(name, budget, data_dir, dataset=dataset)
    trainer_kwargs = dict(trainer_kwargs or {})
    if keep_epochs and out_dir is not None:
        trainer_kwargs["callbacks"] = [*trainer_kwargs.get("callbacks", []), EpochWeights(Path(out_dir) / f"{name}.epochs")]
    try:
        elapsed, trainer = fit(
            model, datamodule, budget, name=name, progress_bar=progress_bar, print_epochs=print_epochs, **trainer_kwargs
        )
    except TrainingDiverged as exc:
        # The model already holds its last good weights (the end of the last finished epoch): keep them,
        # beside (never over) an existing good checkpoint.
        if out_dir is None:
            raise
        path = save_checkpoint(model, Path(out_dir) / f"{name}.last-good.pt", name=name, profile=profile, seed=seed, diverged=str(exc))
        raise TrainingDiverged(f"{exc} Last good weights saved to {path}.") from exc
    meta = {
        "name": name,
        "profile": profile if not budget_overrides else "custom",
        "budget": budget.to_dict(),
        "seed": seed,
        "train_time_s": elapsed,
        "data": datamodule.describe(),
        "data_fingerprint": datamodule.fingerprint(),
        "data_is_fallback": datamodule.is_fallback,
        "provenance": provenance(),
    }
    run = TrainingRun(name, model, datamodule, budget, meta["profile"], elapsed, seed, meta=meta)
    if out_dir is not None and trainer.is_global_zero:
        run.checkpoint = save_checkpoint(model, Path(out_dir) / f"{name}.pt", **meta)
    return run


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
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "command": " ".join(["python -m fundamentalml", *sys.argv[1:]]) if Path(sys.argv[0]).name in ("__main__.py", "fundamentalml") else None,
        "commit": commit,
        "commit_dirty": dirty,
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "python": platform.python_version(),
        "machine": f"{cpu}, {os.cpu_count()} cores, {torch.backends.cpu.get_cpu_capability()}" + (f"; GPU {gpu}" if gpu else ""),
    }


def training_source_hash() -> str:
    """Hash of the code that decides what a trained model is: models, training, data and profiles.

    Part of :func:`train_or_load`'s cache key, so editing a model retrains it instead of loading weights
    that the current code would not produce. (Plots, metrics and widgets are left out: they do not change
    the weights.)
    """
    root = Path(__file__).resolve().parent
    files = sorted((root / "models").glob("*.py")) + [root / n for n in ("training.py", "data.py", "profiles.py")]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def run_key(name: str, profile: str, seed: int, data_fingerprint: str, model_kwargs: dict[str, Any]) -> str:
    """A short key naming one training configuration (and the code that trains it), for checkpoint caches."""
    blob = json.dumps(
        [name, profile, seed, data_fingerprint, model_kwargs, training_source_hash()], sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def train_or_load(
    name: str,
    profile: str | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    progress_bar: bool = False,
    **model_kwargs: Any,
) -> TrainingRun:
    """Load model ``name`` from the checkpoint cache if this exact configuration was trained; else train it.

    The cache key covers the model, profile, seed, model arguments and the data's fingerprint, so changing any
    of them trains afresh. Checkpoints live in ``cache_dir`` or :func:`default_checkpoint_dir`.
    """
    profile = profile or default_profile()
    budget = get_budget(name, profile)
    datamodule = make_datamodule(name, budget, data_dir)
    key = run_key(name, profile, seed, datamodule.fingerprint(), model_kwargs)
    folder = Path(cache_dir) if cache_dir is not None else default_checkpoint_dir()
    path = folder / f"{name}-{profile}-{key}.pt"
    if path.is_file():
        try:
            model = load_checkpoint(path, expected=name)
            meta = getattr(model, "checkpoint_meta", {})
            return TrainingRun(
                name, model, datamodule, budget, profile, float(meta.get("train_time_s", float("nan"))), seed,
                checkpoint=path, loaded=True, meta=meta,
            )
        except CheckpointError as exc:
            print(f"Ignoring the cached checkpoint ({exc}); training again.", file=sys.stderr)
    run = train_model(name, profile, data_dir=data_dir, seed=seed, progress_bar=progress_bar, **model_kwargs)
    run.checkpoint = save_checkpoint(run.model, path, **run.meta)
    return run


def default_checkpoint_dir() -> Path:
    """Where :func:`train_or_load` keeps checkpoints: ``$FUNDAMENTALML_CHECKPOINTS`` or the user cache."""
    from_env = os.environ.get("FUNDAMENTALML_CHECKPOINTS", "").strip()
    if from_env:
        return Path(from_env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache) / "fundamentalml" / "checkpoints"

"""The one run path: train a model, or load it (the shipped weights, a cached run, or a run in ``--out``).

Chapters, the command line and the benchmark all get their models from :func:`get_run`, so a number in the
book is the number the CLI prints. ``profile="shipped"`` loads the course's trained weights (the seed's
settings, trained once with the ``full`` profile; see :func:`pretrained`); ``"smoke"``, ``"cpu"`` and
``"full"`` train on this machine, or load the run that this exact configuration already produced.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import registry
from .checkpoints import CheckpointError, load_checkpoint, model_from_payload, read_checkpoint, save_checkpoint
from .data import ImageDataModule, ImageSet
from .files import clean_stale_tmp, save_json, sha256_file, user_cache_dir
from .metrics import Metrics
from .models import HistoryModule
from .profiles import PROFILES, check_profile, default_profile
from .registry import ModelSpec

SHIPPED = "shipped"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_ENV = "FUNDAMENTALML_WEIGHTS"  # another folder of shipped-format weights (a teacher's own set)
MANIFEST_NAME = "manifest.json"
CHECKPOINTS_ENV = "FUNDAMENTALML_CHECKPOINTS"
BOOK_PROFILE_ENV = "FUNDAMENTALML_PROFILE"


class ShippedWeightsError(CheckpointError):
    """The shipped weights are missing, tampered with, truncated, or disagree with their manifest."""


# ------------------------------------------------------------------------------------------ a run


@dataclass
class Run:
    """One trained model and where it came from.

    Attributes:
        name: the registry name (``"vae-mlp"``...).
        model: the trained model, in eval mode.
        profile: ``"shipped"``, ``"smoke"``, ``"cpu"`` or ``"full"``.
        source: ``"shipped"`` (the course's weights), ``"loaded"`` (an earlier run of this exact
            configuration) or ``"trained"`` (trained just now).
        meta: the run's metadata: budget, seed, data, provenance, and ``metrics`` when it was evaluated.
        checkpoint: the file it was loaded from or saved to.
    """

    name: str
    model: HistoryModule
    profile: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None
    data_dir: str | os.PathLike | None = None

    @property
    def spec(self) -> ModelSpec:
        """The model's registry entry."""
        return registry.get(self.name)

    @property
    def loaded(self) -> bool:
        """``True`` when nothing was trained to get this run."""
        return self.source != "trained"

    @property
    def history(self) -> dict[str, list[float]]:
        """Per-epoch training history (``train_loss``, ``val_loss``, ``time_s``...)."""
        return self.model.history

    @property
    def seed(self) -> int:
        """The training seed."""
        return int(self.meta.get("seed", 0))

    @property
    def train_time_s(self) -> float:
        """Wall-clock seconds the training took (where it ran: see ``meta["provenance"]``)."""
        return float(self.meta.get("train_time_s", float("nan")))

    @property
    def metrics(self) -> dict[str, Any]:
        """The metrics measured right after training (empty when the run was not evaluated)."""
        return dict(self.meta.get("metrics") or {})

    def datamodule(self) -> ImageDataModule:
        """The data this model trains and is tested on, sized like its run (``full`` for the shipped weights)."""
        budget_profile = "full" if self.profile in (SHIPPED, "custom") else self.profile
        return self.spec.datamodule(self.spec.budget(budget_profile), self.data_dir, dataset=self.meta.get("dataset"))

    def test_set(self) -> ImageSet:
        """The test split of the model's dataset (the whole of it)."""
        return self.datamodule().test_set

    def evaluate(self, judge: HistoryModule | None = None) -> Metrics:
        """Measure the model on its test set now (conditional models need ``judge``, the reference classifier)."""
        return self.spec.evaluate(self.model, self.test_set(), judge)


# ------------------------------------------------------------------------------------------ shipped weights


def weights_folder(weights_dir: str | os.PathLike | None = None) -> Path:
    """Where shipped weights are read: ``weights_dir``, else ``$FUNDAMENTALML_WEIGHTS``, else the package's own."""
    if weights_dir is not None:
        return Path(weights_dir)
    from_env = os.environ.get(WEIGHTS_ENV, "").strip()
    return Path(from_env).expanduser() if from_env else WEIGHTS_DIR


def manifest(weights_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The shipped weights' manifest (``{"models": {name: entry}, ...}``); empty when none are shipped."""
    path = weights_folder(weights_dir) / MANIFEST_NAME
    if not path.is_file():
        return {"models": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ShippedWeightsError(f"{path} is not readable JSON ({exc}); reinstall the package or run "
                                  f"python -m fundamentalml reproduce.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ShippedWeightsError(f"{path} has no 'models' table; reinstall the package.")
    return data


def has_shipped(name: str, weights_dir: str | os.PathLike | None = None) -> bool:
    """``True`` when the package ships weights for model ``name``."""
    return name in manifest(weights_dir)["models"]


def pretrained(name: str, *, weights_dir: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None) -> Run:
    """The shipped model ``name``: trained once at the ``full`` profile, checked against its manifest, rebuilt.

    The file's sha256 must match the manifest (a tampered or truncated file is an error, never a silently
    different model). The returned run carries the model with its per-epoch history, and ``run.meta`` is the
    manifest entry: provenance (command, commit, versions, machine, wall time), data identity and the metrics
    measured right after training.

    Raises:
        ShippedWeightsError: no shipped weights for ``name``, or the file does not match its manifest.
    """
    spec = registry.get(name)
    folder = weights_folder(weights_dir)
    entries = manifest(folder)["models"]
    if name not in entries:
        shipped = ", ".join(sorted(entries)) or "none"
        raise ShippedWeightsError(
            f"No shipped weights for {name} (shipped: {shipped}). Train it with: python -m fundamentalml train {name}"
        )
    entry = entries[name]
    path = folder / entry["file"]
    if not path.is_file():
        raise ShippedWeightsError(f"{path} is missing although the manifest lists it; reinstall the package.")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise ShippedWeightsError(
            f"{path} does not match its manifest (sha256 {digest[:12]}..., expected {entry['sha256'][:12]}...): the "
            f"file was changed or truncated. Reinstall the package, or retrain with python -m fundamentalml reproduce."
        )
    model = model_from_payload(read_checkpoint(path), str(path), expected=spec.name)
    return Run(name, model, SHIPPED, SHIPPED, meta=dict(entry), checkpoint=path, data_dir=data_dir)


# ------------------------------------------------------------------------------------------ the run path


def book_profile() -> str:
    """What a chapter shows: ``$FUNDAMENTALML_PROFILE`` when set (train at that profile), else the shipped weights."""
    value = os.environ.get(BOOK_PROFILE_ENV, "").strip()
    return check_run_profile(value) if value else SHIPPED


def check_run_profile(profile: str) -> str:
    """``profile`` if it is ``"shipped"`` or a training profile; else a ``ValueError`` naming the choices."""
    if profile == SHIPPED:
        return profile
    try:
        return check_profile(profile)
    except ValueError:
        raise ValueError(f"Unknown profile {profile!r}: use {SHIPPED!r} (the course's trained weights) or one of "
                         f"{', '.join(PROFILES)} (train here).") from None


def default_checkpoint_dir() -> Path:
    """Where runs without ``out`` are kept: ``$FUNDAMENTALML_CHECKPOINTS`` or the user cache's ``checkpoints``."""
    from_env = os.environ.get(CHECKPOINTS_ENV, "").strip()
    return Path(from_env).expanduser() if from_env else user_cache_dir() / "checkpoints"


def training_source_hash() -> str:
    """Hash of the code that decides what a trained model is: the models, training, data and the registry.

    Part of every run's key, so editing a model retrains it instead of loading weights that the current code
    would not produce. (Plots, metrics and widgets do not change the weights and are left out.)
    """
    root = Path(__file__).resolve().parent
    files = sorted((root / "models").glob("*.py")) + [root / n for n in ("training.py", "data.py", "registry.py", "profiles.py")]
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def run_key(name: str, profile: str, budget: dict[str, Any], seed: int, data_fingerprint: str, dataset: str,
            model_kwargs: dict[str, Any]) -> str:
    """A short key naming one training configuration and the code that trains it."""
    blob = json.dumps([name, profile, budget, seed, data_fingerprint, dataset, model_kwargs, training_source_hash()],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def check_out_dir(out: str | os.PathLike) -> Path:
    """``out`` as a folder this process can write to (created if needed); otherwise a clear error, before training."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder: give a folder for the checkpoint and metrics.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out {out} cannot be created ({exc.strerror}); choose a folder you can write to.") from exc
    probe = out / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"--out {out} is not writable ({exc.strerror}); choose a folder you can write to.") from exc
    clean_stale_tmp(out)
    return out


def get_run(
    name: str,
    profile: str | None = None,
    *,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    retrain: bool = False,
    epochs: int | None = None,
    precision: str | None = None,
    dataset: str | None = None,
    model_kwargs: dict[str, Any] | None = None,
    judge: HistoryModule | None = None,
    evaluate: bool = True,
    keep_epochs: bool = False,
    progress_bar: bool = False,
    print_epochs: bool = True,
    trainer_kwargs: dict[str, Any] | None = None,
) -> Run:
    """Train model ``name`` at ``profile``, or load it if that exact run exists: the one path to a model.

    Args:
        name: a registry name (``python -m fundamentalml models`` lists them).
        profile: ``"shipped"`` loads the course's weights (nothing trains); ``"smoke"``, ``"cpu"`` or ``"full"``
            trains here. Default: :func:`~fundamentalml.profiles.default_profile`.
        seed: training seed.
        data_dir: data folder (see :func:`fundamentalml.data.resolve_data_dir`).
        out: keep the run as ``out/NAME.pt`` (+ ``NAME.json``); default: the per-user checkpoint cache.
        retrain: train even when the same run exists.
        epochs: override the profile's epochs.
        precision: a Trainer setting (``"bf16-mixed"``, ``"32-true"``); it does not change the profile.
        dataset: an alternative dataset the model allows (``"fashion-mnist"``).
        model_kwargs: the model's "try this" knobs (``latent_dim``, ``beta``...).
        judge: the reference classifier, for evaluating conditional models; default: the shipped one when the
            package has it (evaluation never trains).
        evaluate: measure the trained model and store the metrics with it.
        keep_epochs: also keep the weights after every epoch in ``out/NAME.epochs/`` (for per-epoch metrics).
        progress_bar, print_epochs: what training prints.
        trainer_kwargs: extra ``pl.Trainer`` arguments (``devices``, ``strategy``, ``num_nodes``, ``accelerator``,
            ``logger``...).
    """
    spec = registry.get(name)
    profile = check_run_profile(profile) if profile is not None else default_profile()
    if profile == SHIPPED:
        changed = {k: v for k, v in dict(epochs=epochs, precision=precision, dataset=dataset, model_kwargs=model_kwargs).items() if v}
        if changed or retrain:
            raise ValueError(f"The shipped weights cannot be changed ({sorted(changed) or 'retrain'}): pick a profile "
                             f"to train (smoke, cpu or full).")
        return pretrained(name, data_dir=data_dir)
    model_kwargs = dict(model_kwargs or {})
    budget = spec.budget(profile, **({"epochs": epochs} if epochs else {}))
    budget = resolve_precision(spec, budget, precision, (trainer_kwargs or {}).get("accelerator", "auto"))
    datamodule = spec.datamodule(budget, data_dir, dataset=dataset)
    key = run_key(name, profile, budget.to_dict(), seed, datamodule.fingerprint(), dataset or spec.dataset, model_kwargs)
    folder = check_out_dir(out) if out is not None else default_checkpoint_dir()
    path = folder / (f"{name}.pt" if out is not None else f"{name}-{profile}-{key}.pt")
    if not retrain and path.is_file():
        try:
            payload = read_checkpoint(path)
            if payload.get("meta", {}).get("run_key") == key:
                model = model_from_payload(payload, str(path), expected=name)
                return Run(name, model, profile, "loaded", meta=model.checkpoint_meta, checkpoint=path, data_dir=data_dir)
        except CheckpointError as exc:
            print(f"{name}: not reusing {path} ({exc}); training again.")

    from .training import train  # the run path sits above training; imported here to keep `import runs` light

    trained = train(
        spec, budget, profile=profile, data_dir=data_dir, seed=seed, dataset=dataset,
        last_good_dir=folder, keep_epochs_dir=folder / f"{name}.epochs" if keep_epochs else None,
        progress_bar=progress_bar, print_epochs=print_epochs, trainer_kwargs=trainer_kwargs, model_kwargs=model_kwargs,
    )
    meta = {**trained.meta, "run_key": key, "overrides": {k: v for k, v in dict(epochs=epochs, precision=precision).items() if v}}
    run = Run(name, trained.model, profile, "trained", meta=meta, data_dir=data_dir)
    if not trained.is_global_zero:  # another process of a multi-process run: rank zero writes and reports
        return run
    run.checkpoint = save_checkpoint(trained.model, path, **meta)  # saved before evaluation: a crash there loses nothing
    if evaluate:
        if spec.needs_judge and judge is None and has_shipped(registry.JUDGE):
            judge = pretrained(registry.JUDGE, data_dir=data_dir).model
        if not spec.needs_judge or judge is not None:
            meta["metrics"] = spec.evaluate(trained.model, datamodule.eval_set(), judge).to_dict()
            meta["judge"] = getattr(judge, "checkpoint_meta", {}).get("sha256") if judge is not None else None
            save_checkpoint(trained.model, path, **meta)
        else:
            print(f"{name}: not evaluated: it needs the reference classifier, and none was given or shipped.")
    trained.model.checkpoint_meta = meta
    save_json({**meta, "checkpoint": path.name, "checkpoint_sha256": sha256_file(path)}, path.with_suffix(".json"))
    return run


def resolve_precision(spec: ModelSpec, budget, precision: str | None, accelerator: str = "auto"):
    """The budget with a concrete precision: an explicit ``precision`` wins; ``"auto"`` means bf16-mixed where the
    hardware has fast bf16 (AVX-512 BF16 or AMX on a CPU, bf16 on a GPU), fp32 elsewhere."""
    from dataclasses import replace

    wanted = precision or budget.precision
    if wanted == "auto":
        wanted = "bf16-mixed" if fast_bf16(accelerator) else "32-true"
    if wanted in ("16-mixed", "16-true") and not torch.cuda.is_available():
        raise ValueError(f"precision {wanted!r} needs a GPU (Lightning runs it as bf16 on a CPU, and the run would be "
                         f"recorded wrongly); use bf16-mixed or 32-true.")
    return replace(budget, precision=wanted)


def fast_bf16(accelerator: str = "auto") -> bool:
    """``True`` where bf16 is faster than fp32: a GPU with bf16, or a CPU with AVX-512 BF16 or AMX."""
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def load_run(path: str | os.PathLike, expected: str | None = None) -> Run:
    """A run from a checkpoint file written by the run path (e.g. ``runs/full/dcgan.pt``)."""
    model = load_checkpoint(path, expected)
    meta = getattr(model, "checkpoint_meta", {})
    name = registry.spec_of(model).name
    return Run(name, model, str(meta.get("profile", "custom")), "loaded", meta=meta, checkpoint=Path(path))


def seed_results(name: str, key: str, weights_dir: str | os.PathLike | None = None) -> dict[int, float]:
    """``key`` (a metric name or ``"train_time_s"``) of every recorded seed of a shipped model, the shipped seed
    included: ``{seed: value}``."""
    entry = manifest(weights_dir)["models"].get(name)
    if not entry:
        raise ValueError(f"{name} has no shipped weights.")
    rows = [{"seed": entry.get("seed"), "metrics": entry["metrics"], "train_time_s": entry.get("train_time_s")},
            *entry.get("seeds", [])]
    return {int(r["seed"]): float(r["train_time_s"] if key == "train_time_s" else r["metrics"][key]) for r in rows}

"""The one run path: train a model, or load it (the shipped weights, a cached run, or a run in ``--out``).

Chapters, the command line and the benchmark all get their models from :func:`get_run`, so a number in the
book is the number the CLI prints. ``profile="shipped"`` loads the course's trained weights (the seed's
settings, trained once with the ``full`` profile; see :func:`pretrained`); ``"smoke"``, ``"cpu"`` and
``"full"`` train on this machine, or load the run that this exact configuration already produced.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import registry
from .checkpoints import CheckpointError, model_from_payload, read_checkpoint, save_checkpoint, spec_of_payload
from .data import ImageDataModule, ImageSet
from .files import FolderInUseError, acquire_lock, clean_stale_tmp, release_lock, save_json
from .identity import (MANIFEST_NAME, SHIPPED, WEIGHTS_DIR, WEIGHTS_ENV, checkpoint_dir, check_run_profile, code_fingerprint,
                       sha256_file)
from .identity import book_profile  # noqa: F401 -- the chapters' `from fundamentalml.runs import book_profile`
from .metrics import Metrics
from .models import HistoryModule
from .profiles import Budget, check_profile, default_profile, fast_bf16, resolve_precision  # noqa: F401 (re-exported)
from .registry import ModelSpec


class ShippedWeightsError(CheckpointError):
    """The shipped weights are missing, tampered with, truncated, or disagree with their manifest."""


class RunConflictError(ValueError):
    """``--out`` already holds a run of this model with other settings, or is a folder runs must never go to."""



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
    if not from_env:
        return WEIGHTS_DIR
    folder = Path(from_env).expanduser()
    if not (folder / MANIFEST_NAME).is_file():
        what = "does not exist" if not folder.exists() else ("is not a folder" if not folder.is_dir() else f"holds no {MANIFEST_NAME}")
        raise ShippedWeightsError(
            f"${WEIGHTS_ENV} is {folder}, which {what}: point it at a folder of shipped-format weights (with "
            f"{MANIFEST_NAME}), or unset it to use the package's own weights."
        )
    return folder


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


ENTRY_FIELDS = {"file": str, "sha256": str, "metrics": dict}


def manifest_entry(name: str, entries: dict[str, Any], where: Path) -> dict[str, Any]:
    """The manifest entry of ``name``, checked: the fields the loader relies on are there and of the right type."""
    entry = entries[name]
    if not isinstance(entry, dict):
        raise ShippedWeightsError(f"{where}: the entry of {name} is {type(entry).__name__}, not a table; reinstall the package.")
    for key, kind in ENTRY_FIELDS.items():
        if key not in entry:
            raise ShippedWeightsError(f"{where}: the entry of {name} has no {key!r} field; reinstall the package "
                                      f"or rebuild the manifest with python -m fundamentalml reproduce.")
        if not isinstance(entry[key], kind):
            raise ShippedWeightsError(f"{where}: the {key!r} field of {name} is {type(entry[key]).__name__}, not "
                                      f"{kind.__name__}; reinstall the package.")
    if Path(entry["file"]).name != entry["file"] or entry["file"] in ("", ".", ".."):
        raise ShippedWeightsError(f"{where}: the 'file' field of {name} ({entry['file']!r}) must be a plain file name.")
    return entry


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
    entry = manifest_entry(name, entries, folder / MANIFEST_NAME)
    path = folder / entry["file"]
    if not path.is_file():
        raise ShippedWeightsError(f"{path} is missing although the manifest lists it; reinstall the package.")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise ShippedWeightsError(
            f"{path} does not match its manifest (sha256 {digest[:12]}..., expected {entry['sha256'][:12]}...): the "
            f"file was changed or truncated. Reinstall the package, or retrain with python -m fundamentalml reproduce."
        )
    payload = read_checkpoint(path)
    model = model_from_payload(payload, str(path), expected=spec.name)
    check_manifest_metrics(name, entry, payload.get("meta") or {}, folder / MANIFEST_NAME)
    return Run(name, model, SHIPPED, SHIPPED, meta=dict(entry), checkpoint=path, data_dir=data_dir)


def check_manifest_metrics(name: str, entry: dict[str, Any], file_meta: dict[str, Any], where: Path) -> None:
    """The manifest's metrics must be the ones measured for the file (``ship`` stores them inside it too).

    The sha256 ties the file to the manifest, and the file's own copy of its metrics ties the numbers to the
    file: an edited number in the manifest, or a file swapped with its sha256 updated, is an error here, so a
    chapter never reads a number that was not measured for the weights it shows.
    """
    stored = file_meta.get("metrics")
    if not isinstance(stored, dict):
        raise ShippedWeightsError(f"{where}: {entry['file']} carries no metrics of its own, so the manifest's numbers "
                                  f"for {name} cannot be checked; rebuild it with python -m fundamentalml ship.")
    for section in ("metrics", "metrics_as_stored"):
        recorded, own = entry.get(section), file_meta.get(section, stored if section == "metrics" else None)
        if not isinstance(recorded, dict) or not isinstance(own, dict):
            continue
        for key, value in recorded.items():
            if key in own and own[key] != value:
                raise ShippedWeightsError(
                    f"{where}: {name}'s {section}.{key} is {value!r} but its weights file records {own[key]!r}: the "
                    f"manifest was edited, or the file was swapped. Reinstall the package, or check with "
                    f"python -m fundamentalml verify."
                )


# ------------------------------------------------------------------------------------------ the run path


def run_key(name: str, profile: str, budget: dict[str, Any], seed: int, data_fingerprint: str, dataset: str,
            model_kwargs: dict[str, Any]) -> str:
    """A short key naming one training configuration and the code that trains and evaluates it
    (:func:`fundamentalml.identity.code_fingerprint`: editing a model, the training or a metric retrains)."""
    blob = json.dumps([name, profile, budget, seed, data_fingerprint, dataset, model_kwargs, code_fingerprint()],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def check_out_dir(out: str | os.PathLike) -> Path:
    """``out`` as a folder this process can write to (created if needed); otherwise a clear error, before training.

    Refused: an empty name (it would silently mean the current folder), and the package's own ``weights/``
    folder or any folder of shipped-format weights (one holding ``manifest.json``): training never replaces
    the shipped weights (``python -m fundamentalml reproduce`` rebuilds those, with their manifest).
    """
    if isinstance(out, str) and not out.strip():
        raise ValueError("--out is empty: give a folder for the run (e.g. --out runs/mine); an empty name would "
                         "silently mean the current folder.")
    out = Path(out)
    try:
        resolved = out.expanduser().resolve()
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"--out {out} cannot be resolved ({exc}); a symlink loop? Choose another folder.") from exc
    shipped = WEIGHTS_DIR.resolve()
    if resolved == shipped or shipped in resolved.parents or (resolved / MANIFEST_NAME).is_file():
        raise RunConflictError(
            f"--out {out} is a folder of shipped weights ({resolved}); training never writes there, because a run "
            f"would replace the weights the manifest vouches for. Train into another folder (e.g. --out runs/mine); "
            f"python -m fundamentalml reproduce rebuilds the shipped weights with their manifest."
        )
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


# ------------------------------------------------------------------------------------------ one run, one transaction

# What one run named STEM writes into its folder. All of it is replaced together: a new run's files appear at
# once, and none of the previous run's files (say, its curves) stays behind beside the new weights.
RUN_MEMBERS = ("{stem}.pt", "{stem}.json", "{stem}-curves.png", "{stem}.epochs", "logs/{stem}", "logs/{stem}-tb")
# The settings that make two runs "the same run" (a retrain of the same settings may replace it).
SETTINGS_KEYS = ("name", "profile", "budget", "seed", "dataset", "model_kwargs")


def is_writer_process() -> bool:
    """``False`` in the other processes of a multi-process run (only global rank zero writes files)."""
    if "RANK" in os.environ:
        return os.environ["RANK"].strip() in ("", "0")
    return all(os.environ.get(k, "0").strip() in ("", "0") for k in ("LOCAL_RANK", "NODE_RANK", "GROUP_RANK"))


class RunTransaction:
    """Everything one run writes appears together, or not at all; a signal leaves the previous run whole.

    Used as a context manager around a run: on entry it takes ``FOLDER/.STEM.lock`` (a second run into the
    same output is refused while the first is alive; a dead holder's lock is taken over with a note) and makes
    the staging folder ``FOLDER/.STEM.staging`` where the run writes everything (weights with metrics, JSON,
    curves, logs, per-epoch weights). :meth:`commit` moves the previous run's files aside, moves the new ones
    into place and only then deletes the old ones; a failure midway puts the old ones back, and a commit cut
    short by a kill -9 is rolled back by the next run into the folder (its journal says what was moved).

    SIGINT and SIGTERM: while training, the training guard stops at the next step; while evaluating or
    writing, the handler here stops at once; both discard the staging folder, say that the previous run is
    untouched, and exit with 128 + the signal's number (130, 143). During the commit, a signal waits until
    the files are in place (a few renames), then is reported with the same exit code.
    """

    def __init__(self, folder: str | os.PathLike, stem: str, *, writer: bool | None = None) -> None:
        self.folder, self.stem = Path(folder), stem
        self.staging = self.folder / f".{stem}.staging"
        self.backup = self.folder / f".{stem}.backup"
        self.lock = self.folder / f".{stem}.lock"
        self.writer = is_writer_process() if writer is None else writer
        self.phase = "starting"
        self.committed = False
        self.signum: int | None = None
        self._previous_handlers: dict[int, Any] = {}

    # ---- what a run is
    def members(self) -> list[str]:
        """The run's files and folders, relative to the folder."""
        return [m.format(stem=self.stem) for m in RUN_MEMBERS]

    def existing(self) -> list[str]:
        """The members of the previous run that are there now."""
        return [m for m in self.members() if os.path.lexists(self.folder / m)]

    # ---- entering and leaving
    def __enter__(self) -> "RunTransaction":
        if self.writer:
            self.folder.mkdir(parents=True, exist_ok=True)
            acquire_lock(self.lock, f"{self.folder} (run {self.stem})")
            try:
                self._recover()
                self.staging.mkdir()
            except BaseException:
                release_lock(self.lock)
                raise
        self._install_signal_handlers()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._restore_signal_handlers()
        try:
            if self.writer and not self.committed:
                shutil.rmtree(self.staging, ignore_errors=True)
        finally:
            if self.writer:
                release_lock(self.lock)
        from .training import TrainingInterrupted

        if isinstance(exc, TrainingInterrupted) and not getattr(exc, "reported", False):
            kept = self.existing() if self.writer else []
            where = (f"the previous run in {self.folder} ({', '.join(kept)}) is untouched" if kept
                     else f"{self.folder} holds no {self.stem} run")
            new = TrainingInterrupted(f"{exc} Nothing of this run was kept; {where}.", exc.signum)
            new.reported = True
            raise new from None
        if exc is None and self.signum is not None:
            name = signal.Signals(self.signum).name
            err = TrainingInterrupted(
                f"{self.stem}: {name} arrived while the finished run was being put in place; it was completed first, "
                f"so {self.folder} holds the new run whole.", self.signum)
            err.reported = True
            raise err

    # ---- signals
    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.phase == "committing":  # a few renames: finish them, then report
            self.signum = self.signum or signum
            return
        from .training import TrainingInterrupted

        self.signum = signum
        raise TrainingInterrupted(f"{self.stem}: stopped by {signal.Signals(signum).name} while {self.phase}.", signum)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    # ---- the settings already there
    def check_settings(self, settings: dict[str, Any], overwrite: bool = False) -> None:
        """Refuse to replace a run of this model with other ``settings`` unless ``overwrite``; say what is there."""
        if overwrite or not self.writer:
            return
        there = self.existing()
        if not there:
            return
        pt, js = self.folder / f"{self.stem}.pt", self.folder / f"{self.stem}.json"
        old: dict[str, Any] | None = None
        if pt.is_file():
            try:
                old = read_checkpoint(pt).get("meta") or {}
            except CheckpointError:
                old = None
        elif js.is_file():
            with contextlib.suppress(OSError, ValueError):
                old = json.loads(js.read_text())
        if isinstance(old, dict) and old:
            wanted = json.loads(json.dumps({k: settings.get(k) for k in SETTINGS_KEYS}, default=str))
            found = json.loads(json.dumps({k: old.get(k) for k in SETTINGS_KEYS}, default=str))
            differ = [k for k in SETTINGS_KEYS if wanted[k] != found[k]]
            if not differ:
                return
            what = "; ".join(f"{k} {found[k]!r} there, {wanted[k]!r} now" for k in differ)
            reason = f"a run with other settings ({what})"
        else:
            reason = f"{', '.join(there)} that cannot be read as a run of {self.stem}"
        raise RunConflictError(
            f"{self.folder} already holds {reason}. Nothing was trained. Pass --overwrite (overwrite=True) to replace "
            f"it, or choose another --out."
        )

    # ---- putting the run in place
    def commit(self) -> None:
        """Replace the previous run's files with the staged ones, all together (see the class docstring)."""
        if not self.writer or self.committed:
            return
        self.phase = "committing"
        new = [m for m in self.members() if os.path.lexists(self.staging / m)]
        old = self.existing()
        self.backup.mkdir(exist_ok=True)
        journal = self.backup / "journal.json"
        save_json({"old": old, "new": new}, journal)
        moved: list[str] = []
        placed: list[str] = []
        try:
            for m in old:
                (self.backup / m).parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.folder / m, self.backup / m)
                moved.append(m)
            for m in new:
                (self.folder / m).parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.staging / m, self.folder / m)
                placed.append(m)
        except BaseException:
            restored = True
            for m in placed:
                _remove(self.folder / m)
            for m in moved:
                try:
                    os.replace(self.backup / m, self.folder / m)
                except OSError:
                    restored = False
            if restored:  # else the journal stays, and the next run into the folder finishes the rollback
                shutil.rmtree(self.backup, ignore_errors=True)
            raise
        journal.unlink()  # from here on the new run stands; the rest is tidying
        self.committed = True
        shutil.rmtree(self.backup, ignore_errors=True)
        shutil.rmtree(self.staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self.folder / "logs").rmdir()  # only when empty

    def _recover(self) -> None:
        """Undo what a run killed outright (kill -9) left: a half-done commit, a staging folder."""
        journal = self.backup / "journal.json"
        if journal.is_file():
            try:
                record = json.loads(journal.read_text())
            except (OSError, ValueError):
                record = {"old": [], "new": []}
            for m in self.members():
                if os.path.lexists(self.backup / m):  # the old file was moved aside: whatever stands there is new
                    _remove(self.folder / m)
                    os.replace(self.backup / m, self.folder / m)
                elif m in record.get("new", []) and not os.path.lexists(self.staging / m):
                    _remove(self.folder / m)  # placed by the killed commit, with no old file behind it
            print(f"note: a run into {self.folder} was killed while replacing {self.stem}; the previous run was put "
                  f"back.", file=sys.stderr)
        shutil.rmtree(self.backup, ignore_errors=True)
        shutil.rmtree(self.staging, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


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
    overwrite: bool = False,
    transaction: "RunTransaction | None" = None,
) -> Run:
    """Train model ``name`` at ``profile``, or load it if that exact run exists: the one path to a model.

    Three steps: :func:`plan_run` decides what the run is (and refuses bad arguments before anything trains),
    :func:`find_run` looks for that exact run, and :func:`train_and_save` trains, evaluates
    (:func:`evaluate_model`) and writes it as one transaction.

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
        overwrite: replace a run of this model in ``out`` that has other settings (otherwise refused).
        transaction: a :class:`RunTransaction` the caller opened (the CLI, to stage its curves and logs with the
            run); the caller then commits it. Default: one of its own, committed here.

    A training run is one transaction: its files appear together or not at all, and a signal at any moment
    leaves the previous run whole (see :class:`RunTransaction`).

    Raises:
        RunConflictError: ``out`` holds a run of this model with other settings (and not ``overwrite``), or is
            a folder of shipped weights.
        FolderInUseError: another live process is writing this run.
    """
    profile = check_run_profile(profile) if profile is not None else default_profile()
    if profile == SHIPPED:
        changed = {k: v for k, v in dict(epochs=epochs, precision=precision, dataset=dataset, model_kwargs=model_kwargs).items() if v}
        if changed or retrain:
            raise ValueError(f"The shipped weights cannot be changed ({sorted(changed) or 'retrain'}): pick a profile "
                             f"to train (smoke, cpu or full).")
        return pretrained(name, data_dir=data_dir)
    plan = plan_run(name, profile, seed=seed, data_dir=data_dir, out=out, epochs=epochs, precision=precision,
                    dataset=dataset, model_kwargs=model_kwargs, accelerator=(trainer_kwargs or {}).get("accelerator", "auto"))
    found = None if retrain else find_run(plan)
    if found is not None:
        return found
    return train_and_save(plan, judge=judge, evaluate=evaluate, keep_epochs=keep_epochs, progress_bar=progress_bar,
                          print_epochs=print_epochs, trainer_kwargs=trainer_kwargs, overwrite=overwrite,
                          transaction=transaction)


@dataclass
class RunPlan:
    """One training run, decided before anything trains: what it trains, on what, and where it is kept.

    Attributes:
        spec: the model's registry entry.
        profile: ``"smoke"``, ``"cpu"`` or ``"full"``.
        budget: the profile's budget with the overrides (epochs) and a concrete precision.
        seed: the training seed.
        dataset: the alternative dataset asked for, or ``None`` (the model's own).
        model_kwargs: the model's arguments, checked against its class.
        overrides: the explicit ``epochs`` and ``precision``, as recorded with the run.
        data_dir: the data folder asked for (``None``: the default place).
        datamodule: the data the run trains and is evaluated on.
        key: :func:`run_key` of all of the above, the data's identity and the code's.
        folder: where the run is kept (``out``, or the per-user checkpoint cache).
        path: its checkpoint file (``NAME.pt`` in ``out``, ``NAME-PROFILE-KEY.pt`` in the cache).
        in_out: ``True`` when ``folder`` is an explicit ``out`` (whose older run of other settings needs ``overwrite``).
    """

    spec: ModelSpec
    profile: str
    budget: Budget
    seed: int
    dataset: str | None
    model_kwargs: dict[str, Any]
    overrides: dict[str, Any]
    data_dir: str | os.PathLike | None
    datamodule: ImageDataModule
    key: str
    folder: Path
    path: Path
    in_out: bool

    @property
    def name(self) -> str:
        """The registry name."""
        return self.spec.name

    def settings(self) -> dict[str, Any]:
        """The settings that make two runs the same run (:data:`SETTINGS_KEYS`)."""
        return {"name": self.name, "profile": self.profile, "budget": self.budget.to_dict(), "seed": self.seed,
                "dataset": self.dataset or self.spec.dataset, "model_kwargs": self.model_kwargs}


def plan_run(name: str, profile: str, *, seed: int = 0, data_dir: str | os.PathLike | None = None,
             out: str | os.PathLike | None = None, epochs: int | None = None, precision: str | None = None,
             dataset: str | None = None, model_kwargs: dict[str, Any] | None = None,
             accelerator: str = "auto") -> RunPlan:
    """Check the arguments of a training run and decide what it is and where it is kept (see :func:`get_run`).

    Nothing trains and nothing is written here, except that ``out`` is created and checked to be writable.
    """
    spec = registry.get(name)
    profile = check_profile(profile)
    from .models.base import check_model_arguments

    model_kwargs = check_model_arguments(spec.model_class, dict(model_kwargs or {}))
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs must be a whole number of at least 1, got {epochs!r}.")
    budget = spec.budget(profile, **({"epochs": epochs} if epochs else {}))
    budget = resolve_precision(spec, budget, precision, accelerator)
    datamodule = spec.datamodule(budget, data_dir, dataset=dataset)
    key = run_key(name, profile, budget.to_dict(), seed, datamodule.fingerprint(), dataset or spec.dataset, model_kwargs)
    folder = check_out_dir(out) if out is not None else checkpoint_dir()
    path = folder / (f"{name}.pt" if out is not None else f"{name}-{profile}-{key}.pt")
    overrides = {k: v for k, v in dict(epochs=epochs, precision=precision).items() if v}
    return RunPlan(spec, profile, budget, seed, dataset, model_kwargs, overrides, data_dir, datamodule, key, folder,
                   path, out is not None)


def find_run(plan: RunPlan) -> Run | None:
    """The run ``plan`` describes, if it was made before (its checkpoint carries the same key); else ``None``.

    A checkpoint that cannot be read is reported and treated as absent (the run trains again and replaces it).
    """
    if not plan.path.is_file():
        return None
    try:
        payload = read_checkpoint(plan.path)
        if payload.get("meta", {}).get("run_key") != plan.key:
            return None
        model = model_from_payload(payload, str(plan.path), expected=plan.name)
    except CheckpointError as exc:
        print(f"{plan.name}: not reusing {plan.path} ({exc}); training again.")
        return None
    return Run(plan.name, model, plan.profile, "loaded", meta=model.checkpoint_meta, checkpoint=plan.path,
               data_dir=plan.data_dir)


def train_and_save(plan: RunPlan, *, judge: HistoryModule | None = None, evaluate: bool = True,
                   keep_epochs: bool = False, progress_bar: bool = False, print_epochs: bool = True,
                   trainer_kwargs: dict[str, Any] | None = None, overwrite: bool = False,
                   transaction: "RunTransaction | None" = None) -> Run:
    """Train the run ``plan`` describes, evaluate it (unless not ``evaluate``) and write it, as one transaction.

    The weights, their metrics and the run's JSON are written into the transaction's staging folder and put in
    place together by its commit (here, unless the caller passed its own ``transaction``). In the other
    processes of a multi-process run nothing is evaluated or written. Arguments: see :func:`get_run`.
    """
    spec, path = plan.spec, plan.path
    check_model_fits_data(spec, spec.build(plan.budget, **plan.model_kwargs), plan.datamodule)
    from .training import train  # the run path sits above training; imported here to keep `import runs` light

    tx = transaction if transaction is not None else RunTransaction(plan.folder, path.stem)
    with contextlib.nullcontext(tx) if transaction is not None else tx:
        if plan.in_out:
            tx.check_settings(plan.settings(), overwrite)
        tx.phase = "training"
        trained = train(
            spec, plan.budget, profile=plan.profile, data_dir=plan.data_dir, seed=plan.seed, dataset=plan.dataset,
            last_good_dir=plan.folder, keep_epochs_dir=tx.staging / f"{plan.name}.epochs" if keep_epochs else None,
            progress_bar=progress_bar, print_epochs=print_epochs, trainer_kwargs=trainer_kwargs,
            model_kwargs=plan.model_kwargs,
        )
        meta = {**trained.meta, "run_key": plan.key, "overrides": plan.overrides}
        run = Run(plan.name, trained.model, plan.profile, "trained", meta=meta, data_dir=plan.data_dir)
        if not trained.is_global_zero:  # another process of a multi-process run: rank zero writes and reports
            return run
        if evaluate:
            tx.phase = "evaluating"
            meta.update(evaluate_model(spec, trained.model, plan.datamodule, judge, plan.data_dir))
        # Written once, with the metrics, into the staging folder; the commit puts the whole run in place.
        tx.phase = "saving"
        staged = save_checkpoint(trained.model, tx.staging / path.name, **meta)
        trained.model.checkpoint_meta = meta
        save_json({**meta, "checkpoint": path.name, "checkpoint_sha256": sha256_file(staged)},
                  tx.staging / path.with_suffix(".json").name)
        run.checkpoint = path
        if transaction is None:
            tx.commit()
    return run


def evaluate_model(spec: ModelSpec, model: HistoryModule, datamodule: ImageDataModule,
                   judge: HistoryModule | None = None, data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The metrics a run stores with its weights: ``{"metrics": ..., "judge": sha256 or None}``.

    A conditional model is judged by ``judge``, else by the shipped reference classifier when the package has
    one (evaluation never trains); without either it is not evaluated (``{}``, and a line says so).
    """
    if spec.needs_judge and judge is None and has_shipped(registry.JUDGE):
        judge = pretrained(registry.JUDGE, data_dir=data_dir).model
    if spec.needs_judge and judge is None:
        print(f"{spec.name}: not evaluated: it needs the reference classifier, and none was given or shipped.")
        return {}
    return {"metrics": spec.evaluate(model, datamodule.eval_set(), judge).to_dict(),
            "judge": getattr(judge, "checkpoint_meta", {}).get("sha256") if judge is not None else None}


def check_model_fits_data(spec: ModelSpec, model: HistoryModule, datamodule: ImageDataModule) -> None:
    """Refuse, before training, a model whose images or classes do not match its data (``image_channels=1`` for
    CIFAR-10, ``num_classes=5`` for ten digits), with the argument to change."""
    data = datamodule.train_set
    shape = getattr(model, "image_shape", None)
    if shape is not None and tuple(shape) != tuple(data.images.shape[1:]):
        raise ValueError(
            f"{spec.name} was built for images of shape {tuple(shape)}, but its data ({data.name}) has "
            f"{tuple(data.images.shape[1:])}: leave image_channels at the default (or match the dataset)."
        )
    classes = getattr(model, "num_classes", None)
    if isinstance(classes, int) and len(data.labels) and int(data.labels.max()) >= classes:
        raise ValueError(
            f"{spec.name} was built for {classes} classes, but its data ({data.name}) has labels up to "
            f"{int(data.labels.max())}: use num_classes={int(data.labels.max()) + 1} (the default)."
        )


def load_run(path: str | os.PathLike, expected: str | None = None) -> Run:
    """A run from a checkpoint file written by the run path (e.g. ``runs/full/dcgan.pt``)."""
    payload = read_checkpoint(path)
    name = spec_of_payload(payload, str(path), expected).name  # the stored registry name (or, in older files, the class's)
    model = model_from_payload(payload, str(path), name)
    meta = getattr(model, "checkpoint_meta", {})
    return Run(name, model, str(meta.get("profile", "custom")), "loaded", meta=meta, checkpoint=Path(path))


def verified_entry(name: str, weights_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The manifest entry of shipped model ``name`` after the checks :func:`pretrained` makes (well-formed, the
    file's sha256, the metrics the file itself records), without rebuilding the model: the numbers a chapter
    may quote."""
    folder = weights_folder(weights_dir)
    entries = manifest(folder)["models"]
    if name not in entries:
        raise ShippedWeightsError(f"No shipped weights for {name}.")
    entry = manifest_entry(name, entries, folder / MANIFEST_NAME)
    path = folder / entry["file"]
    if not path.is_file():
        raise ShippedWeightsError(f"{path} is missing although the manifest lists it; reinstall the package.")
    if sha256_file(path) != entry["sha256"]:
        raise ShippedWeightsError(f"{path} does not match its manifest (sha256): the file was changed or truncated.")
    check_manifest_metrics(name, entry, read_checkpoint(path).get("meta") or {}, folder / MANIFEST_NAME)
    return entry


def seed_results(name: str, key: str, weights_dir: str | os.PathLike | None = None) -> dict[int, float]:
    """``key`` (a metric name or ``"train_time_s"``) of every recorded seed of a shipped model, the shipped seed
    included: ``{seed: value}``."""
    folder = weights_folder(weights_dir)
    entries = manifest(folder)["models"]
    if name not in entries:
        raise ValueError(f"{name} has no shipped weights.")
    entry = verified_entry(name, folder)
    rows = [{"seed": entry.get("seed"), "metrics": entry["metrics"], "train_time_s": entry.get("train_time_s")},
            *entry.get("seeds", [])]
    return {int(r["seed"]): float(r["train_time_s"] if key == "train_time_s" else r["metrics"][key]) for r in rows}

"""Command line: ``python -m fundamentalml train|compare|models|profiles|reproduce|ship|seeds|verify|costs ...``.

Arguments are parsed by jsonargparse (the parser behind LightningCLI) from the functions' type hints and
docstrings, so ``--help`` is always in step with the code, and ``--config FILE`` can hold the arguments.
Every command gets its models from :func:`fundamentalml.runs.get_run`, the path the chapters use.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal, Optional, Union

from . import registry
from .runs import SHIPPED, Run, RunTransaction, check_out_dir, get_run, pretrained

from .profiles import PROFILES

# Choices for --help and argument checking, read from the registry and the profiles (never listed here).
ModelName = Literal[registry.MODEL_NAMES]  # type: ignore[valid-type]
ProfileName = Literal[PROFILES]  # type: ignore[valid-type]
RunProfile = Literal[(SHIPPED, *PROFILES)]  # type: ignore[valid-type]
DatasetName = Literal[registry.DATASETS]  # type: ignore[valid-type]
PROG = "python -m fundamentalml"


def _check_devices(devices: Union[int, str]) -> Union[int, str, list[int]]:
    """``--devices`` as Lightning takes it: a count of at least 1, "auto", or a list of device indices."""
    if isinstance(devices, bool):
        raise ValueError(f"--devices must be a number of devices, 'auto' or a list such as [0, 1], got {devices!r}.")
    if isinstance(devices, int):
        if devices < 1:
            raise ValueError(f"--devices must be at least 1 (or 'auto'), got {devices}.")
        return devices
    text = str(devices).strip()
    if text == "auto":
        return text
    if text.lstrip("-").isdigit():
        return _check_devices(int(text))
    if text.startswith("[") and text.endswith("]"):
        parts = [p.strip() for p in text[1:-1].split(",") if p.strip()]
        if parts and all(p.isdigit() for p in parts):
            return [int(p) for p in parts]
    raise ValueError(f"--devices {devices!r} is not a device count: use a number of at least 1, 'auto', or a list of "
                     f"indices such as [0, 1] (the accelerator is chosen with --accelerator, e.g. --accelerator gpu).")


def _check_trainer_args(devices: Union[int, str], num_nodes: int, accelerator: str, strategy: str = "auto",
                        precision: Optional[str] = None) -> Union[int, str, list[int]]:
    """What can be checked about devices, nodes, accelerator and strategy before training starts.

    Lightning itself is asked (a Trainer is built and thrown away), so an accelerator this machine does not
    have, a strategy whose package is missing (deepspeed) or a device list that does not exist is refused
    here, in one line, instead of after the data has loaded.
    """
    import torch

    devices = _check_devices(devices)
    if num_nodes < 1:
        raise ValueError(f"--num_nodes must be at least 1, got {num_nodes}.")
    if num_nodes > 1 and not any(k in os.environ for k in ("MASTER_ADDR", "SLURM_JOB_ID", "WORLD_SIZE")):
        raise ValueError(
            f"--num_nodes {num_nodes} needs a cluster launcher (torchrun or SLURM setting MASTER_ADDR/WORLD_SIZE); "
            f"on one machine it would wait forever for the other nodes. Use --num_nodes 1."
        )
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if isinstance(devices, int) and devices > 1 and on_cpu and devices > (os.cpu_count() or 1):
        print(f"warning: --devices {devices} starts {devices} processes on {os.cpu_count()} CPU core(s); they will "
              f"share the cores and the run will be slower, not faster.", file=sys.stderr)
    import warnings

    import pytorch_lightning as pl

    from .training import quiet_lightning

    quiet_lightning()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pl.Trainer(accelerator=accelerator, devices=devices, strategy=strategy, num_nodes=num_nodes, logger=False,
                       enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
                       **({"precision": precision} if precision and precision != "auto" else {}))
    except Exception as exc:  # noqa: BLE001 -- whatever Lightning refuses, it refuses before training here
        text = " ".join(str(exc).split())[:300]
        raise ValueError(
            f"Lightning cannot run --accelerator {accelerator} --devices {devices} --strategy {strategy} on this "
            f"machine: {text} (GPU: {'yes' if torch.cuda.is_available() else 'none'}; the defaults 'auto' pick what "
            f"is there)."
        ) from None
    return devices


def _model_kwargs(spec: registry.ModelSpec, latent_dim: Optional[int], beta: Optional[float], batch_norm: Optional[bool],
                  model_args: Optional[dict]) -> dict[str, Any]:
    from .models.base import check_model_arguments

    if model_args is not None and not isinstance(model_args, dict):
        raise ValueError(f"--model_args must be a JSON object such as '{{\"ngf\": 64}}', got {model_args!r}.")
    kwargs = dict(model_args or {})
    for key, value in (("latent_dim", latent_dim), ("beta", beta), ("batch_norm", batch_norm)):
        if value is not None:
            if key in kwargs:
                raise ValueError(f"{key} is given twice, as --{key} {value!r} and in --model_args as {kwargs[key]!r}: "
                                 f"give it once.")
            kwargs[key] = value
    accepted = registry.model_arguments(spec.model_class)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"{spec.name} takes no {', '.join('--' + k for k in unknown)}; its arguments are {sorted(accepted)}.")
    try:
        return check_model_arguments(spec.model_class, kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{spec.name}: {exc}") from None


def _print_run(run: Run) -> None:
    from .reports import run_row, table

    print(f"\n{run.meta.get('data', '')}\nprofile {run.profile}; {run.source}; checkpoint {run.checkpoint}")
    if run.metrics:
        print(table({run.spec.title: run_row(run)}))


def train(
    model: ModelName,
    profile: Optional[ProfileName] = None,
    out: Optional[str] = None,
    seed: int = 0,
    data_dir: Optional[Path] = None,
    epochs: Optional[int] = None,
    dataset: Optional[DatasetName] = None,
    latent_dim: Optional[int] = None,
    beta: Optional[float] = None,
    batch_norm: Optional[bool] = None,
    model_args: Optional[dict] = None,
    devices: Union[int, str] = "auto",
    strategy: str = "auto",
    num_nodes: int = 1,
    accelerator: str = "auto",
    precision: Optional[Literal["auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true"]] = None,
    keep_epochs: bool = False,
    evaluate: bool = True,
    tensorboard: bool = False,
    progress_bar: bool = True,
    overwrite: bool = False,
) -> dict:
    """Train one model; write OUT/MODEL.pt (weights and metrics), OUT/MODEL.json, a CSV log and a loss-curve PNG.

    Args:
        model: which model to train (``models`` lists them).
        profile: budget profile (default: full on a GPU, cpu otherwise, or $FUNDAMENTALML_PROFILE).
        out: output folder (default: runs/PROFILE); checked before training starts.
        seed: random seed; the same seed gives the same numbers on the same machine.
        data_dir: data folder (default: $FUNDAMENTALML_DATA, else the user cache).
        epochs: override the profile's number of epochs.
        dataset: train on another dataset the model allows (e.g. fashion-mnist for the MNIST models).
        latent_dim: size of the latent code (VAEs, GANs).
        beta: KL weight (VAEs; 1 is the true ELBO).
        batch_norm: batch norm on or off.
        model_args: any other model argument as JSON, e.g. '{"ngf": 64}' or '{"hidden_dims": [512, 256]}'.
        devices: passed to Lightning (e.g. 2, or "auto").
        strategy: passed to Lightning (e.g. "ddp").
        num_nodes: passed to Lightning.
        accelerator: passed to Lightning ("auto", "cpu", "gpu").
        precision: override the profile's precision; "auto" is bf16-mixed where the hardware has fast bf16.
        keep_epochs: also write the weights after every epoch to OUT/MODEL.epochs/.
        evaluate: measure the model after training (conditional models use the shipped reference classifier).
        tensorboard: also write a TensorBoard log (needs the tensorboard package).
        progress_bar: show Lightning's progress bar.
        overwrite: replace a run of MODEL in OUT that has other settings (otherwise refused, saying what is there).

    The run is one transaction: OUT/MODEL.pt, .json, the curves and the logs appear together when it ends,
    and an error or a signal (exit 130 or 143) leaves the previous run in OUT whole.
    """
    from .profiles import default_profile

    spec = registry.get(model)
    profile = profile or default_profile()
    out = check_out_dir(out if out is not None else Path("runs") / profile)
    kwargs = _model_kwargs(spec, latent_dim, beta, batch_norm, model_args)
    if epochs is not None and epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {epochs}.")
    devices = _check_trainer_args(devices, num_nodes, accelerator, strategy, precision)
    if tensorboard:
        _check_tensorboard()
    with RunTransaction(out, model) as tx:
        loggers = _loggers(tx.staging, model, tensorboard)
        run = get_run(
            model, profile, seed=seed, data_dir=data_dir, out=out, retrain=True, epochs=epochs, precision=precision,
            dataset=dataset, model_kwargs=kwargs, evaluate=evaluate, keep_epochs=keep_epochs, progress_bar=progress_bar,
            trainer_kwargs=dict(devices=devices, strategy=strategy, num_nodes=num_nodes, accelerator=accelerator, logger=loggers),
            overwrite=overwrite, transaction=tx,
        )
        if run.checkpoint is None:  # not rank zero in a multi-process run: rank zero reports
            return {}
        from .plots import save_loss_curves

        tx.phase = "saving"
        save_loss_curves(run.history, tx.staging / f"{model}-curves.png", title=f"{spec.title}, profile {profile}")
        log_dir = Path(loggers[0].log_dir).relative_to(tx.staging)
        tx.commit()
    _print_run(run)
    print(f"loss curves: {out / f'{model}-curves.png'}; CSV log: {out / log_dir / 'metrics.csv'}")
    return {"checkpoint": str(run.checkpoint), **run.metrics}


def _check_tensorboard() -> None:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
        raise ValueError("--tensorboard needs the tensorboard package, which is not installed here: pip install "
                         "tensorboard, or leave --tensorboard off (the CSV log in OUT/logs is always written).")


def _loggers(out: Path, model: str, tensorboard: bool) -> list:
    from pytorch_lightning.loggers import CSVLogger

    loggers: list = [CSVLogger(out / "logs", name=model)]
    if tensorboard:
        from pytorch_lightning.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(out / "logs", name=f"{model}-tb"))
    return loggers


def compare(
    first: ModelName,
    second: ModelName,
    profile: RunProfile = SHIPPED,
    out: Optional[str] = None,
    seed: int = 0,
    data_dir: Optional[Path] = None,
    retrain: bool = False,
    progress_bar: bool = False,
    overwrite: bool = False,
) -> dict:
    """Print two models of one comparison group side by side (``vae-mlp vae-cnn`` or ``cvae cgan``; ``models``
    lists the groups): the shipped ones by default, or trained at ``--profile`` (reusing OUT's or the cache's run
    of the same configuration).

    Args:
        first: first model (e.g. vae-mlp or cvae).
        second: another model of its group (e.g. vae-cnn or cgan).
        profile: "shipped" (the course's weights, nothing trains) or a profile to train at.
        out: folder of checkpoints and metrics (default: the per-user cache; nothing is written for shipped).
        seed: random seed.
        data_dir: data folder.
        retrain: train again even when the same run exists.
        progress_bar: show Lightning's progress bar.
        overwrite: replace runs in OUT that have other settings (otherwise refused, saying what is there).
    """
    from . import reports
    from .files import save_json

    registry.check_comparable([first, second])
    specs = [registry.get(first), registry.get(second)]
    if profile == SHIPPED and (out is not None or retrain or overwrite):
        raise ValueError("--out, --retrain and --overwrite are for training; with the shipped weights nothing trains. "
                         "Pass --profile cpu (or smoke, full).")
    if out is not None:
        out = check_out_dir(out)
    fetch = lambda name: get_run(name, profile, seed=seed, data_dir=data_dir, out=out, retrain=retrain,  # noqa: E731
                                 progress_bar=progress_bar, overwrite=overwrite)
    runs = {s.title: fetch(s.name) for s in specs}
    judge = None
    if any(s.needs_judge for s in specs):
        judge = fetch(registry.JUDGE).model if profile != SHIPPED else pretrained(registry.JUDGE, data_dir=data_dir).model
    rows = {title: reports.run_row(run, run.evaluate(judge)) for title, run in runs.items()}
    text = reports.table(rows)
    print(f"profile {profile}; data: {next(iter(runs.values())).test_set().source}\n\n{text}")
    if out is not None:
        save_json(rows, Path(out) / f"compare-{first}-{second}.json")
    return rows


def models() -> None:
    """List the registered models: name, title, class, dataset, chapter, comparison group, and whether weights
    are shipped."""
    from .runs import has_shipped

    from .tables import markdown_table

    groups = registry.compare_groups()
    rows = []
    for spec in registry.MODELS.values():
        partners = " ".join(n for n in groups.get(spec.compare_group, ()) if n != spec.name) or "-"
        rows.append([spec.name, spec.title, spec.model_class.__name__, spec.dataset, spec.chapter, partners,
                     "yes" if has_shipped(spec.name) else "no"])
    print(markdown_table(["name", "title", "class", "dataset", "chapter", "compared with", "shipped weights"], rows))


def show_profiles() -> None:
    """Print the table of training budgets (what each profile means for each model)."""
    from .profiles import PROFILE_ENV, default_profile

    print(registry.budget_table())
    print(f"\nDefault here: {default_profile()} (override with ${PROFILE_ENV} or --profile).")


def reproduce(
    out: Path = Path("runs/full"),
    models: Optional[list[ModelName]] = None,
    data_dir: Optional[Path] = None,
    weights_dir: Optional[Path] = None,
) -> None:
    """Retrain every shipped model at the full profile (seed 0), then rewrite the weights and their manifest.

    Args:
        out: where the runs (and per-epoch weights of the GANs) are kept.
        models: only these (default: all, the judge first).
        data_dir: data folder (the real datasets; a fallback is refused).
        weights_dir: where to write the shipped files (default: the package's weights folder).
    """
    from .shipping import reproduce as _reproduce

    _reproduce(out, models=models, data_dir=data_dir, weights_dir=weights_dir)


def ship(runs: Path, models: Optional[list[ModelName]] = None, data_dir: Optional[Path] = None,
         weights_dir: Optional[Path] = None, note: Optional[dict[str, str]] = None) -> None:
    """Turn finished full-profile runs in RUNS into shipped weights and manifest entries (evaluates each).

    Args:
        runs: folder holding MODEL.pt files (and MODEL.epochs/ for per-epoch metrics).
        models: only these (default: every model with a run there).
        data_dir: data folder.
        weights_dir: where to write (default: the package's weights folder).
        note: a remark per model for its manifest entry, as JSON, e.g. '{"dcgan": "machine busy"}'.
    """
    from .shipping import ship as _ship

    _ship(runs, models=models, data_dir=data_dir, weights_dir=weights_dir, notes=note)


def seeds(out: Path = Path("runs/seeds"), models: Optional[list[ModelName]] = None, seeds: Optional[list[int]] = None,
          data_dir: Optional[Path] = None, weights_dir: Optional[Path] = None, note: str = "") -> None:
    """Train more seeds of shipped models at full (or load them from OUT/seedS/) and record their test metrics in
    the manifest, for the chapters' error bars. The shipped weights stay those of seed 0.

    Args:
        out: where the extra runs are kept (OUT/seed1/vae-mlp.pt ...).
        models: which models (default: those with extra seeds in the registry, the two VAEs).
        seeds: which seeds (default: each model's extra seeds in the registry, 1 and 2).
        data_dir: data folder (the real datasets; a fallback is refused).
        weights_dir: the manifest to update (default: the package's weights folder).
        note: a remark stored with each seed (e.g. that the machine was busy).
    """
    from .shipping import add_seeds

    add_seeds(out, models=models, seeds=seeds, data_dir=data_dir, weights_dir=weights_dir, note=note)


def costs(runs: Optional[Path] = None, models: Optional[list[ModelName]] = None, data_dir: Optional[Path] = None,
          weights_dir: Optional[Path] = None, note: str = "") -> None:
    """Print what training each shipped model at full costs (by precision, with the bf16 quality check); with
    --runs, first record the full runs kept there (RUNS/MODEL.pt, e.g. trained with --precision bf16-mixed).

    Args:
        runs: a folder of full runs (train MODEL --profile full --out RUNS) to record beside the shipped ones.
        models: only these (default: every model with a run in RUNS).
        data_dir: data folder.
        weights_dir: the manifest to update (default: the package's weights folder).
        note: a remark stored with each recorded cost.
    """
    from .cards import cost_table
    from .runs import manifest
    from .shipping import record_cost

    if runs is not None:
        names = list(models or [n for n in registry.MODEL_NAMES if (Path(runs) / f"{n}.pt").is_file()])
        if not names:
            raise ValueError(f"no runs to record in {runs}: it holds no MODEL.pt of a registered model.")
        for name in names:
            record_cost(name, runs, weights_dir=weights_dir, data_dir=data_dir, note=note)
    print(cost_table(manifest(weights_dir)))


def verify(runs: Optional[Path] = None, data_dir: Optional[Path] = None) -> None:
    """Check the shipped weights: each file's sha256, and its headline metric recomputed against the manifest.
    With --runs, compare a retrain's metrics with the manifest instead (seed-noise tolerances).

    Args:
        runs: a folder of retrained runs (from reproduce) to compare with the manifest.
        data_dir: data folder.
    """
    from .shipping import verify as _verify

    if not _verify(runs, data_dir=data_dir):
        raise SystemExit(1)


def scores() -> None:
    """Print your exercise score history, per exercise: attempts, best and last score.

    Every graded run adds to it: pytest exercises in a clone, and grade(...) in a chapter's exercise cells.
    """
    from .exercises.history import print_summary

    print_summary()


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of ``python -m fundamentalml`` and the ``fundamentalml`` script."""
    from jsonargparse import CLI

    import signal

    from .checkpoints import CheckpointError
    from .data import DataError
    from .training import TrainingDiverged, TrainingInterrupted

    os.environ.setdefault("PYTHONWARNINGS", "default")
    global ModelName  # the choices are the registry's entries now (one may have been added since the import)
    ModelName = Literal[registry.MODEL_NAMES]  # type: ignore[valid-type]
    commands = {"train": train, "compare": compare, "models": models, "profiles": show_profiles,
                "reproduce": reproduce, "ship": ship, "seeds": seeds, "verify": verify, "costs": costs}
    commands["scores"] = scores  # the learner's exercise score history
    # Exit codes (README): 0 done, 2 a bad request or bad data (one line saying what to change), 3 training
    # diverged, 130/143 stopped by SIGINT/SIGTERM (the previous run in --out is left whole). Never a traceback,
    # unless $FUNDAMENTALML_DEBUG asks for one.
    from .identity import DEBUG_ENV, env_flag

    debug = env_flag(DEBUG_ENV)
    try:
        CLI(commands, args=argv, as_positional=True, prog=PROG)
    except TrainingInterrupted as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        print(f"{PROG}: stopped by SIGINT; nothing was saved, and the previous run (if any) is untouched.", file=sys.stderr)
        raise SystemExit(128 + signal.SIGINT) from None
    except TrainingDiverged as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
    except (ValueError, TypeError, DataError, CheckpointError, OSError) as exc:
        if debug:
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except MemoryError:
        if debug:
            raise
        print(f"{PROG}: error: out of memory: the model or the batch is too large for this machine; use smaller "
              f"model arguments (latent_dim, hidden_dims) or a smaller profile.", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as exc:  # noqa: BLE001 -- the last net: one line, and how to see the traceback
        if debug:
            raise
        text = " ".join(str(exc).split())[:400]
        print(f"{PROG}: error: {type(exc).__name__}: {text} (set {DEBUG_ENV}=1 to see the traceback).",
              file=sys.stderr)
        raise SystemExit(2) from None

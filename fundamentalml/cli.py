"""Command line: ``python -m fundamentalml train|compare|profiles ...``.

Arguments are parsed by jsonargparse (the parser behind LightningCLI) from the functions' type hints and
docstrings, so ``--help`` is always in step with the code, and ``--config FILE`` can hold the arguments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional, Union

from . import profiles
from .metrics import comparison_table, vae_report
from .training import CheckpointError, TrainingRun, load_checkpoint, make_datamodule, read_checkpoint, save_json, train_model

ModelName = Literal["vae-mlp", "vae-cnn", "dcgan", "cvae", "cgan", "classifier"]
ProfileName = Literal["smoke", "cpu", "full"]


def _report(run: TrainingRun, out: Optional[Path] = None) -> dict:
    """The numbers printed for one trained model (the same functions the chapters call)."""
    from . import reports

    if run.name in ("vae-mlp", "vae-cnn"):
        return vae_report(run)
    row: dict = {"model": run.name, "train_time_s": run.train_time_s, "epochs": len(run.history.get("epoch", []))}
    if run.name == "classifier":
        row["test_accuracy"] = reports.classifier_accuracy(run.model, run.datamodule.data_dir)
    elif run.name == "dcgan":
        row.update(reports.dcgan_report(run.model, run.datamodule.data_dir))
        if out is not None:
            from .plots import save_samples

            row["samples_png"] = save_samples(run.model, str(out / "dcgan-samples.png"))
    else:
        classifier, accuracy = reports.reference_classifier(run.profile if run.profile in profiles.PROFILES else None, run.datamodule.data_dir)
        row.update(reports.conditional_summary(run.model, classifier, run.datamodule.data_dir))
        row["classifier_test_accuracy"] = accuracy
    return row


def train(
    model: ModelName,
    profile: Optional[ProfileName] = None,
    out: Optional[Path] = None,
    seed: int = 0,
    data_dir: Optional[Path] = None,
    devices: Union[int, str] = "auto",
    strategy: str = "auto",
    num_nodes: int = 1,
    accelerator: str = "auto",
    precision: Optional[str] = None,
    keep_epochs: bool = False,
    evaluate: bool = True,
    progress_bar: bool = True,
) -> dict:
    """Train one model, write OUT/MODEL.pt and OUT/MODEL.json, and print its metrics.

    Args:
        model: which model to train.
        profile: budget profile (default: full on a GPU, cpu otherwise, or $FUNDAMENTALML_PROFILE).
        out: output folder (default: runs/PROFILE).
        seed: random seed; the same seed gives the same numbers on the same machine.
        data_dir: data folder (default: $FUNDAMENTALML_DATA, else the user cache).
        devices: passed to Lightning (e.g. 2, or "auto").
        strategy: passed to Lightning (e.g. "ddp").
        num_nodes: passed to Lightning.
        accelerator: passed to Lightning ("auto", "cpu", "gpu").
        precision: override the profile's precision (e.g. "bf16-mixed"); the profile stays the profile.
        keep_epochs: also write the weights after every epoch to OUT/MODEL.epochs/.
        evaluate: measure the model after training (off: only train and save).
        progress_bar: show Lightning's progress bar.
    """
    profile = profile or profiles.default_profile()
    out = Path(out) if out is not None else Path("runs") / profile
    run = train_model(
        model,
        profile,
        data_dir=data_dir,
        seed=seed,
        out_dir=out,
        precision=precision,
        keep_epochs=keep_epochs,
        progress_bar=progress_bar,
        trainer_kwargs=dict(devices=devices, strategy=strategy, num_nodes=num_nodes, accelerator=accelerator),
    )
    if run.checkpoint is None:  # not rank zero in a multi-process run: rank zero reports
        return {}
    if not evaluate:
        print(f"\n{run.meta['data']}\nprofile {run.profile}; checkpoint {run.checkpoint}; {run.train_time_s:.1f} s")
        return {"profile": run.profile, "checkpoint": str(run.checkpoint), "train_time_s": run.train_time_s}
    report = {**_report(run, out), "profile": run.profile, "data": run.meta["data"], "checkpoint": str(run.checkpoint)}
    save_json(report, out / f"{model}.json")
    print(f"\n{run.meta['data']}\nprofile {run.profile}; checkpoint {run.checkpoint}\n")
    print(comparison_table([report]))
    return report


def compare(
    first: ModelName,
    second: ModelName,
    profile: Optional[ProfileName] = None,
    out: Optional[Path] = None,
    seed: int = 0,
    data_dir: Optional[Path] = None,
    retrain: bool = False,
    progress_bar: bool = True,
) -> list[dict]:
    """Print two models side by side (``vae-mlp vae-cnn`` or ``cvae cgan``), training those that OUT does not
    already hold for this profile, seed and data.

    Args:
        first: first model (vae-mlp or cvae).
        second: second model (vae-cnn or cgan).
        profile: budget profile (default as for ``train``).
        out: folder of checkpoints and metrics (default: runs/PROFILE).
        seed: random seed.
        data_dir: data folder.
        retrain: train again even when OUT holds a matching checkpoint.
        progress_bar: show Lightning's progress bar.
    """
    profile = profile or profiles.default_profile()
    out = Path(out) if out is not None else Path("runs") / profile
    models = [first, second]
    if sorted(models) == ["cgan", "cvae"]:
        return [_compare_conditional(profile, out, seed, data_dir, retrain, progress_bar)]
    if not set(models) <= {"vae-mlp", "vae-cnn"}:
        raise ValueError("compare takes VAEs (vae-mlp vae-cnn) or the conditional pair (cvae cgan).")
    rows = []
    for name in models:
        run = None if retrain else _matching_run(name, profile, seed, out, data_dir)
        if run is None:
            rows.append(train(name, profile=profile, out=out, seed=seed, data_dir=data_dir, progress_bar=progress_bar))
        else:
            print(f"{name}: using {run.checkpoint} (trained earlier with the same profile, seed and data)")
            rows.append({**_report(run), "profile": profile})
    print("\n" + comparison_table(rows))
    save_json(rows, out / "comparison.json")
    return rows


def _compare_conditional(profile: str, out: Path, seed: int, data_dir: Optional[Path], retrain: bool, progress_bar: bool) -> dict:
    from . import reports

    runs = {}
    for name in ("cvae", "cgan"):
        run = None if retrain else _matching_run(name, profile, seed, out, data_dir)
        if run is None:
            run = train_model(name, profile, data_dir=data_dir, seed=seed, out_dir=out, progress_bar=progress_bar)
        runs[name] = run
    result = reports.compare_models(runs["cvae"].model, runs["cgan"].model, profile=profile, data_dir=data_dir, seed=seed)
    summary = {"profile": profile, "classifier_test_accuracy": result.classifier_accuracy, **{
        f"{model}: {k}": v for model, row in result.summary.items() for k, v in row.items()}}
    save_json(summary, out / "conditional-comparison.json")
    return summary


def _matching_run(name: str, profile: str, seed: int, out: Path, data_dir: Optional[Path]) -> Optional[TrainingRun]:
    path = out / f"{name}.pt"
    if not path.is_file():
        return None
    try:
        meta = read_checkpoint(path).get("meta", {})
        budget = profiles.get_budget(name, profile)
        datamodule = make_datamodule(name, budget, data_dir)
        if meta.get("profile") != profile or meta.get("seed") != seed or meta.get("data_fingerprint") != datamodule.fingerprint():
            return None
        model = load_checkpoint(path, expected=name)
    except CheckpointError as exc:
        print(f"{name}: ignoring {path} ({exc})")
        return None
    return TrainingRun(name, model, datamodule, budget, profile, float(meta["train_time_s"]), seed, checkpoint=path, loaded=True, meta=meta)


def show_profiles() -> None:
    """Print the table of training budgets (what each profile means for each model)."""
    print(profiles.budget_table())
    print(f"\nDefault here: {profiles.default_profile()} (override with ${profiles.PROFILE_ENV} or --profile).")


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of ``python -m fundamentalml`` and the ``fundamentalml`` script."""
    from jsonargparse import CLI

    os.environ.setdefault("PYTHONWARNINGS", "default")
    CLI({"train": train, "compare": compare, "profiles": show_profiles}, args=argv, as_positional=True)

"""The shipped weights: how they are made (``reproduce``, ``ship``) and checked (``verify``).

``reproduce`` retrains every model at the ``full`` profile with seed 0 through the run path, then ``ship``
evaluates each run on its whole test set, stores its weights in ``fundamentalml/weights/`` (half precision
where that moves the headline metric by less than its registry entry's ``tolerance.half``) and writes a manifest entry:
sha256, class and arguments, profile, seed, data identity, command, commit, versions, machine, wall time,
metrics and per-epoch history. ``verify`` recomputes the metrics from the shipped files (or compares a
retrain with the manifest).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any, Mapping

import pytorch_lightning as pl
import torch

from . import registry
from .checkpoints import CheckpointError, model_from_payload, read_checkpoint
from .data import ImageSet, eval_indices, to_float_images
from .files import atomic_write, portable, save_json
from .identity import DATA_ENV, MANIFEST_NAME, WEIGHTS_DIR, file_records, sha256_file
from .metrics import classifier_extractor, frechet_distance, random_conv_extractor
from .models import LossModule
from .runs import ShippedWeightsError, get_run, load_run, manifest, manifest_entry, pretrained, weights_folder

N_FD = 2000  # images on each side of a Fréchet distance


def _record_entry(folder: Path, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Write ``name``'s manifest entry into the manifest as it is on disk now (re-read, so that a ship of another
    model since this one started is kept), with no path of this machine (:func:`~fundamentalml.files.portable`);
    return the manifest written."""
    current = manifest(folder)
    current["models"][name] = entry
    current["format"] = 1
    current = portable(current)
    save_json(current, folder / MANIFEST_NAME)
    return current


def ship_order(names: list[str]) -> list[str]:
    """``names`` with the judge (the reference classifier) first: the conditional models are judged by it."""
    return sorted(names, key=lambda n: (n != registry.JUDGE, registry.MODEL_NAMES.index(n)))


def data_identity(test: ImageSet, train_files: list[Path]) -> dict[str, Any]:
    """What data a model saw: each file's name, size and sha256 (:func:`~fundamentalml.identity.file_records`),
    and a note on the CIFAR-10 copy."""
    files = file_records([*train_files, *test.files])
    identity: dict[str, Any] = {"dataset": test.name, "source": test.source, "files": files}
    if any(name.endswith(".npz") for name in files):
        identity["note"] = ("CIFAR-10 here is the course's offline copy, decoded from a JPEG export: it looks like "
                            "CIFAR-10 and has its labels, but its pixels are not the original ones (about 5.8 "
                            "levels off on average), so Fréchet distances are not comparable with published ones.")
    return identity


def _half_payload(payload: dict[str, Any]) -> dict[str, Any]:
    half = dict(payload)
    half["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    return half


def _roundtrip(payload: dict[str, Any], where: str, name: str):
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    buffer.seek(0)
    return model_from_payload(torch.load(buffer, map_location="cpu", weights_only=True), where, name)


def per_epoch_metrics(name: str, epochs_dir: Path, test: ImageSet, train: ImageSet, judge) -> dict[str, Any]:
    """A GAN's headline numbers after every epoch (from the weights ``--keep_epochs`` wrote), with the untrained
    generator (epoch 0, the ceiling) and the real-train-vs-real-test floor in the same feature space."""
    spec = registry.get(name)
    files = sorted(epochs_dir.glob("epoch-*.pt"))
    if not files:
        return {}
    pl.seed_everything(0, verbose=False)
    untrained = spec.build(spec.budget("full"))  # the same initial weights as the seed-0 run
    models = [(0, untrained)] + [(int(f.stem.split("-")[1]), model_from_payload(read_checkpoint(f), str(f), name)) for f in files]
    out: dict[str, Any] = {"epoch": [], "frechet_distance": []}
    if spec.needs_judge:
        out["conditioning_accuracy"] = []
    for epoch, model in models:
        model.eval()
        m = spec.evaluate(model, test, judge).to_dict()
        out["epoch"].append(epoch)
        out["frechet_distance"].append(m["frechet_distance"])
        if spec.needs_judge:
            out["conditioning_accuracy"].append(m["conditioning_accuracy"])
    # The floor: real training images against real test images, same features, same sample count.
    if spec.needs_judge:
        # Same sizes as the generated side: the whole test set against 100 training digits of each class.
        n_per_class = 100
        idx = torch.cat([torch.nonzero(train.labels == d).flatten()[:n_per_class] for d in range(10)])
        real_test, real_train = to_float_images(test.images), to_float_images(train.images[idx])
        out["floor_frechet_distance"] = frechet_distance(real_test, real_train, classifier_extractor(judge))
    else:
        n = min(len(test), N_FD)
        test_idx = eval_indices(len(test), n)  # the same test images the per-epoch distances use
        train_idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:n]
        extractor = random_conv_extractor(channels=test.images.shape[1])
        out["floor_frechet_distance"] = frechet_distance(
            test.images[test_idx].float() / 255, train.images[train_idx].float() / 255, extractor)
    out["ceiling_frechet_distance"] = out["frechet_distance"][0]
    return out


def ship(
    runs: str | os.PathLike,
    models: list[str] | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    weights_dir: str | os.PathLike | None = None,
    notes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Turn the ``full``-profile runs in ``runs`` into shipped weights and manifest entries; return the manifest.

    ``notes`` adds a remark per model to its entry (e.g. that the machine was busy while it trained), which
    the chapters print beside its provenance.

    Each run is evaluated on the whole test set of real data (a fallback is refused), stored in float16 when
    that moves its headline metric by less than its ``tolerance.half`` (else float32), and its manifest entry
    is written after its file, so the manifest never names a file that is not there.
    """
    runs, folder = Path(runs), Path(weights_dir or WEIGHTS_DIR)  # writes go to the package's folder unless told
    names = models or [n for n in registry.MODEL_NAMES if (runs / f"{n}.pt").is_file()]
    if not names:
        raise ValueError(f"{runs} holds no runs (MODEL.pt files) to ship.")
    current = manifest(folder)
    judge = None
    for name in ship_order(list(names)):
        spec = registry.get(name)
        run = load_run(runs / f"{name}.pt", expected=name)
        meta = run.meta
        if meta.get("profile") != "full" or meta.get("data_is_fallback") or meta.get("model_kwargs"):
            raise ValueError(f"{runs / name}.pt is not a full-profile run on the real data with the registry's settings "
                             f"(profile {meta.get('profile')}, fallback {meta.get('data_is_fallback')}); only those are shipped.")
        datamodule = spec.datamodule(spec.budget("full"), data_dir)
        test, train = datamodule.test_set, datamodule.train_set
        datamodule.setup()
        if test.is_fallback or train.is_fallback:
            raise ValueError(f"Shipping needs the real datasets, not the offline fallback: set {DATA_ENV}.")
        if spec.needs_judge and judge is None:
            judge = pretrained(registry.JUDGE, weights_dir=folder).model
        print(f"{name}: evaluating ...", flush=True)
        measured = spec.evaluate(run.model, test, judge).to_dict()
        payload = read_checkpoint(runs / f"{name}.pt")
        payload.pop("meta", None)
        half = _roundtrip(_half_payload(payload), f"{name} (float16)", name)
        measured_half = spec.evaluate(half, test, judge).to_dict()
        use_half = spec.tolerance.close("half", measured[spec.headline], measured_half[spec.headline])
        stored = _half_payload(payload) if use_half else payload
        epochs_dir = runs / f"{name}.epochs"
        per_epoch = per_epoch_metrics(name, epochs_dir, test, train, judge) if epochs_dir.is_dir() else {}
        prov = meta.get("provenance", {})
        entry = {
            "file": f"{name}.pt",
            "dtype": "float16" if use_half else "float32",
            "model_class": payload["model_class"],
            "hparams": payload["hparams"],
            "parameters": sum(p.numel() for p in run.model.parameters()),
            "profile": "full",
            "budget": meta.get("budget"),
            "seed": meta.get("seed"),
            "data": meta.get("data"),
            "data_identity": data_identity(test, train.files),
            "command": prov.get("command") or f"python -m fundamentalml train {name} --profile full --seed 0",
            "reproduce": f"python -m fundamentalml reproduce --models [{name}]",
            "commit": prov.get("commit"),
            "torch": prov.get("torch"),
            "lightning": prov.get("lightning"),
            "python": prov.get("python"),
            "machine": prov.get("machine"),
            "train_time_s": meta.get("train_time_s"),
            "train_images": len(datamodule.train_data),
            "metrics": measured,
            "metrics_as_stored": measured_half if use_half else measured,
            "headline": spec.headline,
            "history": run.model.history,
            "per_epoch": per_epoch,
            "note": (notes or {}).get(name, ""),
        }
        stored["meta"] = {k: v for k, v in entry.items() if k not in ("history",)}
        path = folder / entry["file"]
        atomic_write(path, lambda f: torch.save(stored, f))
        entry["sha256"], entry["bytes"] = sha256_file(path), path.stat().st_size
        current = _record_entry(folder, name, entry)
        shown = entry["metrics_as_stored"][spec.headline]
        print(f"{name}: {entry['dtype']}, {entry['bytes'] / 1e6:.2f} MB, {spec.headline} {shown:.4f} "
              f"(float32 {measured[spec.headline]:.4f})", flush=True)
        if name == registry.JUDGE:
            judge = pretrained(registry.JUDGE, weights_dir=folder).model
    return current


def reproduce(
    out: str | os.PathLike = "runs/full",
    models: list[str] | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    weights_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Retrain every shipped model (or ``models``) at ``full`` with seed 0 into ``out``, then :func:`ship` them."""
    names = ship_order(list(models or registry.MODEL_NAMES))
    for name in names:
        spec = registry.get(name)
        is_gan = not issubclass(spec.model_class, LossModule)
        print(f"=== {name}: training at full", flush=True)
        get_run(name, "full", seed=0, out=out, data_dir=data_dir, retrain=True, evaluate=False, keep_epochs=is_gan,
                progress_bar=False)
    current = ship(out, names, data_dir=data_dir, weights_dir=weights_dir)
    for name in names:  # each retrain's wall time, machine and load: the cost of reproducing it, by precision
        current = record_cost(name, out, weights_dir=weights_dir, metrics=current["models"][name]["metrics"])
    return current


def median_epoch_seconds(entry: Mapping[str, Any]) -> float | None:
    """The median wall time of one epoch of a shipped run (from its history's cumulative ``time_s``), or ``None``.

    A run's total wall time also holds whatever else the machine did meanwhile (a shared machine, a pause);
    the median epoch is what one epoch costs when nothing else interferes with most of them.
    """
    times = [float(t) for t in ((entry.get("history") or {}).get("time_s") or [])]
    if not times:
        return None
    durations = [b - a for a, b in zip([0.0, *times[:-1]], times)]
    return float(sorted(durations)[len(durations) // 2] if len(durations) % 2
                 else sum(sorted(durations)[len(durations) // 2 - 1 : len(durations) // 2 + 1]) / 2)


def machine_class(machine: str | None) -> str:
    """The kind of machine a provenance line describes: ``"gpu"``; ``"amx"``, a CPU with AMX (bf16 matrix units;
    the line ends in ``AMX``); or ``"cpu"``, any other CPU, the course's reference. Their times (and a run's
    rounding) differ by more than a machine's noise, so costs and precision checks are kept per kind."""
    machine = str(machine)
    return "gpu" if "GPU" in machine else "amx" if re.search(r",\s*AMX\b", machine) else "cpu"


def cost_key(cost: Mapping[str, Any]) -> str:
    """Where a cost was measured and at what precision: ``"cpu 32-true"``, ``"amx bf16-mixed"``, ``"gpu bf16-mixed"``."""
    return f"{machine_class(cost.get('machine'))} {cost.get('precision')}"


def run_cost(meta: dict[str, Any]) -> dict[str, Any]:
    """What one ``full`` run cost, from its metadata: training wall time, median epoch, the machine and its load."""
    prov = meta.get("provenance") or {}
    history = meta.get("history") or {}
    return {
        "precision": (meta.get("budget") or {}).get("precision"),
        "train_time_s": meta.get("train_time_s"),
        "median_epoch_s": median_epoch_seconds({"history": history}),
        "epochs": len(history.get("epoch") or []) or None,
        "machine": prov.get("machine"),
        "load_average": meta.get("load_average"),
        "commit": prov.get("commit"),
        "command": prov.get("command"),
    }


def record_cost(
    name: str,
    runs: str | os.PathLike,
    *,
    weights_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    note: str = "",
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record in ``name``'s manifest entry what its ``full`` run in ``runs`` (``runs/NAME.pt``) cost, under the run's
    precision, and the headline metric it reached beside the shipped run's: the manifest's ``"costs"``.

    The run must be the shipped run's configuration (profile ``full``, same seed, budget and data) except,
    possibly, its precision: a bf16 run beside an fp32 one (or the other way round) is the quality check of
    :class:`~fundamentalml.registry.Tolerance`'s ``precision`` kind, and its result is stored as ``"holds"``. On
    another kind of machine than the shipped run's (a CPU with AMX, a GPU: :func:`cost_key`), the check is against
    that kind's own run at the shipped precision, which must be recorded first; without one it is not made.
    ``metrics`` are the run's test metrics when the caller has them (else the run's own, else measured here).
    """
    folder = Path(weights_dir or WEIGHTS_DIR)
    current = manifest(folder)
    entry = current["models"].get(name)
    if not entry:
        raise ValueError(f"{name} has no shipped weights to record a cost beside: ship it first.")
    spec = registry.get(name)
    run = load_run(Path(runs) / f"{name}.pt", expected=name)
    meta = run.meta
    same = {k: v for k, v in (meta.get("budget") or {}).items() if k != "precision"}
    shipped = {k: v for k, v in (entry.get("budget") or {}).items() if k != "precision"}
    if meta.get("profile") != "full" or meta.get("seed") != entry.get("seed") or same != shipped:
        raise ValueError(f"{name}: the run in {runs} is not the shipped run's configuration (profile full, seed "
                         f"{entry.get('seed')}, budget {shipped} apart from precision); its cost would compare "
                         f"unlike with like.")
    if run.test_set().is_fallback or meta.get("data_is_fallback"):
        raise ValueError("Costs are measured on the real datasets, not the offline fallback: set FUNDAMENTALML_DATA.")
    metrics = metrics or meta.get("metrics")  # given by reproduce, which has just measured them when shipping
    if not metrics:
        judge = pretrained(registry.JUDGE, weights_dir=folder).model if spec.needs_judge else None
        metrics = run.evaluate(judge).to_dict()
    cost = {**run_cost({**meta, "history": run.model.history}), "note": note}
    value, shipped_value = float(metrics[spec.headline]), float(entry["metrics"][spec.headline])
    cost["headline"] = {spec.headline: value, "shipped": shipped_value, "difference": value - shipped_value}
    shipped_precision = (entry.get("budget") or {}).get("precision")
    beside = ""
    if cost["precision"] != shipped_precision:
        # The precision check compares two runs that differ only by precision, so on the same kind of machine.
        # Another kind (say a CPU with AMX; the shipped runs are the reference CPU's) needs its own run at the
        # shipped precision, recorded first: another CPU's rounding alone moves a run as far as another seed does.
        # Without one the run is not checked, and says so.
        device = machine_class(cost.get("machine"))
        reference: float | None = shipped_value
        if device != machine_class(entry.get("machine")):
            twin = (entry.get("costs") or {}).get(f"{device} {shipped_precision}") or {}
            reference = (twin.get("headline") or {}).get(spec.headline)
            cost["headline"]["checked_against"] = f"{device} {shipped_precision}" if reference is not None else None
            beside = (f"; the {device} {shipped_precision} run {reference:.4f}" if reference is not None else
                      f"; not checked: no {device} {shipped_precision} run recorded")
        if reference is not None:
            cost["headline"]["precision_difference"] = value - float(reference)  # this run minus the one checked against
            cost["holds"] = spec.tolerance.close("precision", float(reference), value)
    entry.setdefault("costs", {})[cost_key(cost)] = cost
    current = _record_entry(folder, name, entry)
    verdict = "" if "holds" not in cost else (", quality holds" if cost["holds"] else ", quality does NOT hold")
    print(f"{name} at {cost['precision']}: {cost['train_time_s']:.0f} s of training, {spec.headline} {value:.4f} "
          f"(shipped {shipped_value:.4f}{beside}{verdict})", flush=True)
    return current


def add_seeds(
    out: str | os.PathLike = "runs/seeds",
    models: list[str] | None = None,
    seeds: list[int] | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    weights_dir: str | os.PathLike | None = None,
    note: str = "",
) -> dict[str, Any]:
    """Train (or load, when ``out/seedS/NAME.pt`` already holds that exact run) more seeds of shipped models at
    ``full`` and record their test metrics in the manifest entry's ``"seeds"`` list: the error bars of a verdict.

    Only the metrics, wall time and provenance of the extra seeds are kept; the shipped weights stay seed 0's.
    The shipped seed itself is refused (its numbers are the entry's own). Default ``models``: the registry's
    models with ``extra_seeds``; default ``seeds``: each model's ``extra_seeds``.
    """
    folder = Path(weights_dir or WEIGHTS_DIR)
    current = manifest(folder)
    names = ship_order(list(models or registry.seed_study_models()))
    judge = None
    for name in names:
        entry = current["models"].get(name)
        if not entry:
            raise ValueError(f"{name} has no shipped weights to add seeds to: ship its seed-0 run first.")
        spec = registry.get(name)
        model_seeds = list(seeds or spec.extra_seeds)
        if not model_seeds:
            raise ValueError(f"{name} has no extra seeds in the registry: say which with --seeds (e.g. --seeds [1,2]).")
        if entry.get("seed") in model_seeds:
            raise ValueError(f"seed {entry.get('seed')} is the shipped run of {name}; pick other seeds.")
        if spec.needs_judge and judge is None:
            judge = pretrained(registry.JUDGE, weights_dir=folder).model
        recorded = {int(r["seed"]): r for r in entry.get("seeds", [])}
        for seed in model_seeds:
            # At the shipped run's precision, whatever "auto" would pick here: seeds differ only by seed.
            run = get_run(name, "full", seed=seed, out=Path(out) / f"seed{seed}", data_dir=data_dir, evaluate=False,
                          progress_bar=False, precision=(entry.get("budget") or {}).get("precision"))
            meta, prov = run.meta, run.meta.get("provenance", {})
            if run.test_set().is_fallback or meta.get("data_is_fallback"):
                raise ValueError(f"Seeds are measured on the real datasets, not the offline fallback: set {DATA_ENV}.")
            if (meta.get("budget") or {}).get("precision") != (entry.get("budget") or {}).get("precision"):
                raise ValueError(f"{name} seed {seed} ran at precision {meta.get('budget', {}).get('precision')}, the "
                                 f"shipped run at {entry.get('budget', {}).get('precision')}: seeds must differ only by seed.")
            print(f"{name} seed {seed}: evaluating ...", flush=True)
            recorded[seed] = {
                "seed": seed,
                "metrics": run.evaluate(judge).to_dict(),
                "train_time_s": meta.get("train_time_s"),
                "command": prov.get("command") or f"python -m fundamentalml train {name} --profile full --seed {seed}",
                "reproduce": f"python -m fundamentalml train {name} --profile full --seed {seed}",
                "commit": prov.get("commit"),
                "machine": prov.get("machine"),
                "torch": prov.get("torch"),
                "note": note,
            }
        entry["seeds"] = [recorded[s] for s in sorted(recorded)]
        current = _record_entry(folder, name, entry)
        shown = ", ".join(f"seed {r['seed']}: {r['metrics'][spec.headline]:.4f}" for r in entry["seeds"])
        print(f"{name}: {spec.headline} seed {entry.get('seed')}: {entry['metrics'][spec.headline]:.4f}, {shown}", flush=True)
    return current


def add_variant(
    name: str,
    model_kwargs: dict[str, Any],
    out: str | os.PathLike = "runs/variants",
    *,
    judges: list[str] | None = None,
    draws: int = 5,
    data_dir: str | os.PathLike | None = None,
    weights_dir: str | os.PathLike | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Train (or load) a variant of a shipped model at ``full``, seed 0, with ``model_kwargs`` changed, and record
    its test metrics in the manifest entry's ``"variants"`` under a key such as ``"beta=1.0"``: the numbers a page
    shows beside the shipped model's, without shipping the variant's weights.

    For a judged (conditional) model the metrics are read by the reference classifier, and the conditioning
    accuracy also by every shipped judge in ``judges`` (default: both MNIST judges) over ``draws`` sample draws.
    """
    folder = Path(weights_dir or WEIGHTS_DIR)
    current = manifest(folder)
    entry = current["models"].get(name)
    if not entry:
        raise ValueError(f"{name} has no shipped weights to add a variant to: ship it first.")
    if not model_kwargs:
        raise ValueError("a variant changes at least one model argument (model_kwargs is empty).")
    spec = registry.get(name)
    run = get_run(name, "full", seed=0, out=out, data_dir=data_dir, model_kwargs=model_kwargs, evaluate=False,
                  progress_bar=False)
    if run.test_set().is_fallback or run.meta.get("data_is_fallback"):
        raise ValueError(f"Variants are measured on the real datasets, not the offline fallback: set {DATA_ENV}.")
    judge = pretrained(registry.JUDGE, weights_dir=folder).model if spec.needs_judge else None
    record: dict[str, Any] = {"model_kwargs": dict(model_kwargs), "metrics": run.evaluate(judge).to_dict()}
    if spec.needs_judge:
        from .metrics import judged_accuracy

        names = judges or [registry.JUDGE, registry.SECOND_JUDGE]
        judged = judged_accuracy(run.model, {j: pretrained(j, weights_dir=folder).model for j in names}, seeds=range(draws))
        record["judged_accuracy"] = {"accuracies": judged.accuracies, "n_per_class": judged.n_per_class, "seeds": judged.seeds}
    prov = run.meta.get("provenance", {})
    record.update({
        "train_time_s": run.meta.get("train_time_s"),
        "history": run.model.history,
        "command": command or prov.get("command"),
        "commit": prov.get("commit"),
        "machine": prov.get("machine"),
        "torch": prov.get("torch"),
    })
    key = ",".join(f"{k}={v}" for k, v in sorted(model_kwargs.items()))
    entry = manifest(folder)["models"].get(name, entry)  # as on disk now: a ship since the start is kept
    entry.setdefault("variants", {})[key] = record
    current = _record_entry(folder, name, entry)
    print(f"{name} [{key}]: {spec.headline} {record['metrics'][spec.headline]:.4f} "
          f"(shipped: {entry['metrics'][spec.headline]:.4f})", flush=True)
    return current


def verify(runs: str | os.PathLike | None = None, *, data_dir: str | os.PathLike | None = None,
           weights_dir: str | os.PathLike | None = None) -> bool:
    """Check the shipped weights, printing one line per model; ``True`` when all pass.

    Without ``runs``: every shipped file's sha256 and its headline metric recomputed on the test set, within
    the registry entry's ``tolerance.recompute`` of the manifest (0.1 nats, 1 point, 0.05 points for the
    classifier). With ``runs`` (a folder from :func:`reproduce`): each retrain's metrics against the manifest,
    within its ``tolerance.reproduce`` (machine and library noise).
    """
    entries = manifest(weights_dir)["models"]
    if not entries:
        print("No shipped weights to verify.")
        return False
    ok = True
    judge = None
    folder = weights_folder(weights_dir)
    for name in ship_order(list(entries)):
        try:
            spec = registry.get(name)
            entry = manifest_entry(name, entries, folder / MANIFEST_NAME)
            stored = entry.get("metrics_as_stored", entry["metrics"])
            if spec.headline not in entry["metrics"] or not isinstance(stored, dict) or spec.headline not in stored:
                raise ShippedWeightsError(f"the manifest entry of {name} has no {spec.headline!r} metric.")
            want, want_f32 = float(stored[spec.headline]), float(entry["metrics"][spec.headline])
            if runs is None:
                run = pretrained(name, weights_dir=weights_dir, data_dir=data_dir)
                if spec.needs_judge and judge is None:
                    judge = pretrained(registry.JUDGE, weights_dir=weights_dir, data_dir=data_dir).model
                got = run.evaluate(judge).to_dict()[spec.headline]
                # The recomputed number must match what the manifest says of the stored weights, and the float32
                # number the chapters quote (within the half-precision tolerance the shipping allowed).
                tol = spec.tolerance
                good = (tol.close("recompute", want, got)
                        and abs(got - want_f32) <= tol.allowed("recompute", want) + tol.allowed("half", want))
            else:
                run = load_run(Path(runs) / f"{name}.pt", expected=name)
                if spec.needs_judge and judge is None:
                    judge = load_run(Path(runs) / f"{registry.JUDGE}.pt").model
                got = run.evaluate(judge).to_dict()[spec.headline]
                good = spec.tolerance.close("reproduce", want, got)
        except (CheckpointError, OSError, ValueError) as exc:
            print(f"FAIL {name}: {exc}")
            ok = False
            continue
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {name}: {spec.headline} {got:.4f}, manifest {want:.4f} (float32 {want_f32:.4f})")
    return ok

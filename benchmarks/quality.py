"""``--quality``: does bf16-mixed train as well as fp32? Every model, both precisions, same seed, same data.

Each model trains twice through the package's run path (:func:`fundamentalml.training.train`, validation off)
and is judged by its registry evaluation on the test set; the report compares the headline metric (-ELBO for
the VAEs, Fréchet distance for DCGAN, conditioning accuracy for the conditional models, accuracy for the
classifier) and the training times. Only where bf16 is fast (:func:`benchmarks.flops.fast_bf16`); elsewhere it
says that it skips, and why.

The conditional models are judged by the reference classifier: the shipped one when the package has it,
otherwise the fp32 classifier trained earlier in this same run when it is among the models (it is then
trained first), otherwise they are reported unjudged.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

import torch

from fundamentalml import registry, runs
from fundamentalml.training import TrainingDiverged, train

from .flops import bf16_skip_reason, machine_info

PRECISIONS = ("32-true", "bf16-mixed")


def _order(names: list[str]) -> list[str]:
    """The judge first when a selected model needs it, so that its fp32 run can judge the others."""
    if registry.JUDGE in names and any(registry.get(n).needs_judge for n in names):
        return [registry.JUDGE, *(n for n in names if n != registry.JUDGE)]
    return list(names)


def run_quality(
    names: list[str],
    *,
    profile: str = "full",
    epochs: int | None = None,
    steps: int | None = None,
    eval_size: int | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Train every model in ``names`` at fp32 and at bf16-mixed and compare their headline metrics.

    Args:
        names: registry names, in report order.
        profile: whose budget (epochs, batch, learning rate) the runs take.
        epochs: override the profile's epochs.
        steps: train on ``steps x batch`` images only (a short trial).
        eval_size: evaluate on that many test images (default: the budget's).
        seed, data_dir: as for training.
    """
    info = machine_info()
    report: dict[str, Any] = {
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "profile": profile,
        "validation": "off (limit_val_batches=0)",
        "seed": seed,
        "machine": info,
        "models": {},
    }
    if not info["fast_bf16"]:
        report["skipped"] = bf16_skip_reason(info)
        return report
    trainer_kwargs = {"limit_val_batches": 0, **({"devices": 1} if torch.cuda.is_available() else {})}
    judge, judge_source = None, None
    if any(registry.get(n).needs_judge for n in names) and runs.has_shipped(registry.JUDGE):
        judge, judge_source = runs.pretrained(registry.JUDGE, data_dir=data_dir).model, "shipped"
    results: dict[str, Any] = {}
    for name in _order(names):
        spec = registry.get(name)
        overrides: dict[str, Any] = {}
        if epochs:
            overrides["epochs"] = epochs
        if steps is not None:
            overrides["train_size"] = steps * spec.budget(profile).batch_size
        if eval_size is not None:
            overrides["eval_size"] = eval_size
        entry: dict[str, Any] = {
            "title": spec.title, "headline": spec.headline, "better": spec.better,
            "budget": spec.budget(profile, **overrides).to_dict(), "precisions": {},
        }
        results[name] = entry
        print(f"--- quality: {name} ---", flush=True)
        for precision in PRECISIONS:
            budget = spec.budget(profile, **overrides, precision=precision)
            try:
                trained = train(spec, budget, profile="custom", data_dir=data_dir, seed=seed, trainer_kwargs=trainer_kwargs)
            except TrainingDiverged as exc:
                entry["precisions"][precision] = {"error": str(exc)}
                continue
            row: dict[str, Any] = {"train_time_s": trained.meta["train_time_s"]}
            if spec.needs_judge and judge is None:
                row["note"] = "not judged: it needs the reference classifier, and none is shipped or in this run"
            else:
                row["metrics"] = spec.evaluate(trained.model, trained.datamodule.eval_set(), judge).to_dict()
                row["value"] = row["metrics"][spec.headline]
            entry["precisions"][precision] = row
            if name == registry.JUDGE and precision == PRECISIONS[0] and judge is None:
                judge, judge_source = trained.model, "trained in this run (fp32)"
        fp32, b16 = (entry["precisions"].get(p, {}) for p in PRECISIONS)
        if "value" in fp32 and "value" in b16:
            entry["difference_bf16_minus_fp32"] = b16["value"] - fp32["value"]
        if "train_time_s" in fp32 and "train_time_s" in b16:
            entry["time_ratio_bf16_over_fp32"] = b16["train_time_s"] / fp32["train_time_s"]
    report["judge"] = judge_source
    report["models"] = {n: results[n] for n in names}
    return report

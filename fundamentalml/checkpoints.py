"""Files that must never be half-written or silently wrong: atomic writes, checkpoints, safe loading.

A checkpoint is one ``torch.save`` file holding a plain ``state_dict``, the hyper-parameters that rebuild the
model, its registry name and class name, its history, and the run's metadata (metrics included), so a run's
weights and numbers are one unit. The registry name says which entry it is (two entries may share a class);
files written before checkpoints stored it (the shipped weights among them) name only the class, which is
enough while one entry has that class, or when the caller says which model it expects.
It is read with ``weights_only=True`` (no code from the file is ever run) and refused when it is not ours,
holds another model, does not fit, or holds non-finite weights.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .files import atomic_write
from .models import CHECKPOINT_FORMAT, HistoryModule
from .registry import ModelSpec, get, specs_by_class_name


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable, not ours, holds a different model, or non-finite weights."""


def nonfinite_tensors(state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors in ``state_dict`` that hold NaN or infinite values."""
    return [k for k, v in state_dict.items() if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def save_checkpoint(model: HistoryModule, path: str | os.PathLike, name: str | None = None, **meta: Any) -> Path:
    """Save ``model`` (class, hyper-parameters, weights, history, ``meta``) to ``path`` atomically.

    ``name`` is the model's registry name (the run path passes it; the model itself does not know it): it is
    stored as the checkpoint's ``name`` (and in ``meta``), so that loading picks the right entry even when two
    entries share a class.

    Raises:
        CheckpointError: the weights hold NaN or infinite values (nothing is written).
    """
    if name is not None:
        spec = get(name)  # an unknown name is an error before anything is written
        if type(model).__name__ != spec.model_class.__name__:
            raise ValueError(f"{name} is a {spec.model_class.__name__}, not a {type(model).__name__}: save it under its own name.")
        meta["name"] = name
    payload = model.checkpoint_dict(**meta)
    if name is not None:
        payload["name"] = name
    bad = nonfinite_tensors(payload["state_dict"])
    if bad:
        raise CheckpointError(
            f"Refusing to write {path}: {len(bad)} weight tensor(s) hold NaN or infinite values ({', '.join(bad[:3])}...). "
            f"Training diverged; lower the learning rate."
        )
    return atomic_write(path, lambda f: torch.save(payload, f))


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint file safely (``weights_only=True``) and check that it is a FundamentalML checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}. Train one with: python -m fundamentalml train MODEL --out DIR")
    try:
        # TorchVersion (a str subclass) is allowed: runs recorded torch.__version__ as such before they stored str.
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
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


def spec_of_payload(payload: dict[str, Any], where: str, expected: str | None = None) -> ModelSpec:
    """The registry entry a checkpoint's contents hold; ``where`` names it in errors.

    The stored registry name decides, and must agree with the stored class. A checkpoint without one (written
    before checkpoints stored it: the shipped weights) is known by its class: the entry ``expected`` when that
    entry has the class, else the one entry with that class.

    Raises:
        CheckpointError: the name or class is unknown, they disagree, the class alone is ambiguous, or the model
            is not the ``expected`` one.
    """
    class_name = str(payload.get("model_class"))
    stored = payload.get("name")
    if stored is not None:
        try:
            spec = get(str(stored))
        except ValueError as exc:
            raise CheckpointError(f"{where} holds a model this registry does not know: {exc}") from exc
        if spec.model_class.__name__ != class_name:
            raise CheckpointError(f"{where} is named {spec.name} but holds a {class_name}, not a "
                                  f"{spec.model_class.__name__}: it was not written by this version; train it again.")
    else:
        try:
            candidates = specs_by_class_name(class_name)
        except ValueError as exc:
            raise CheckpointError(f"{where} holds {exc}") from exc
        chosen = [s for s in candidates if s.name == expected] or list(candidates)
        if len(chosen) > 1:
            raise CheckpointError(f"{where} holds a {class_name}, the class of {', '.join(s.name for s in chosen)}, "
                                  f"and does not say which (it predates stored names): load it by name.")
        spec = chosen[0]
    if expected is not None and expected != spec.name:
        raise CheckpointError(f"{where} holds a {spec.name} ({spec.model_class.__name__}) model, not the {expected} that was asked for.")
    return spec


def model_from_payload(payload: dict[str, Any], where: str, expected: str | None = None) -> HistoryModule:
    """Rebuild a model from a checkpoint's contents (see :func:`load_checkpoint`); ``where`` names it in errors.

    ``expected``: the registry name of the model the caller asks for (see :func:`spec_of_payload`).
    """
    spec = spec_of_payload(payload, where, expected)
    state = payload.get("state_dict", {})
    bad = nonfinite_tensors(state)
    if bad:
        raise CheckpointError(f"{where} holds NaN or infinite weights ({', '.join(bad[:3])}); it is not a usable model.")
    try:
        model = spec.model_class(**payload["hparams"])
        expected_state = model.state_dict()
        wrong = [f"{k} ({v.dtype}, expected {expected_state[k].dtype})" for k, v in state.items()
                 if k in expected_state and torch.is_tensor(v) and v.is_floating_point() != expected_state[k].is_floating_point()]
        if wrong:
            raise CheckpointError(f"{where}: weights of the wrong type: {', '.join(wrong[:3])}. It was not written by "
                                  f"FundamentalML; train again.")
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"{where}: the stored weights do not fit a {spec.model_class.__name__} ({exc}).") from exc
    model.history = {k: list(v) for k, v in payload.get("history", {}).items()}
    model.step_history = {k: list(v) for k, v in payload.get("step_history", {}).items()}
    model.restore_extra(payload.get("extra", {}))
    model.checkpoint_meta = payload.get("meta", {})
    model.eval()
    return model


def load_checkpoint(path: str | os.PathLike, expected: str | type | None = None) -> HistoryModule:
    """Rebuild a model from a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the ``.pt`` file.
        expected: a registry name or a model class (the class of one entry only); loading a checkpoint of
            another model raises.

    Raises:
        CheckpointError: the file is missing, unreadable, foreign, of another model, its weights do not fit,
            or they hold NaN or infinite values.
    """
    if isinstance(expected, type):
        from .registry import spec_of

        expected = spec_of(expected).name
    return model_from_payload(read_checkpoint(path), str(path), expected)

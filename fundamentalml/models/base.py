"""What every FundamentalML LightningModule shares: per-epoch history, input checks, checkpoint contents."""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import numbers
import time
import typing
from typing import Any, Callable, Iterator, Sequence

import pytorch_lightning as pl
import torch
from torch import nn

CHECKPOINT_FORMAT = "fundamentalml-checkpoint/1"

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Context for inference: no gradients, ``modules`` in eval mode inside, and each one's mode restored after,
    also when the body raises.

    (A helper that called ``model.eval()`` and left it so would silently turn off dropout and batch-norm
    updates in the caller's training loop.)
    """
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


def evaluating(method: Callable) -> Callable:
    """Decorator for inference helpers: the method runs under :func:`eval_mode` of its model."""

    @functools.wraps(method)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        with eval_mode(self):
            return method(self, *args, **kwargs)

    return wrapper


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module by name (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}.")
    return ACTIVATIONS[name]()


def check_images(
    x: Any, image_shape: Sequence[int], what: str = "images", value_range: tuple[float, float] = (0.0, 1.0)
) -> torch.Tensor:
    """Return ``x`` as a float batch ``(B, *image_shape)``, or raise an error that says what to change.

    Accepts ``(B, C, H, W)`` and flattened ``(B, C*H*W)`` float tensors with finite values in ``value_range``
    (a small tolerance allowed). Values up to 255 are the classic forgotten ``/ 255``, and are refused.
    """
    x = _check_shape(x, image_shape, what)
    lo, hi = value_range
    if x.numel():
        # One reduction and two Python floats: this runs on every training batch, where each extra tensor
        # operation (and each tensor-to-bool) costs a measurable share of a small step.
        x_min, x_max = (float(v) for v in torch.aminmax(x.detach()))
        if not (math.isfinite(x_min) and math.isfinite(x_max)):
            raise ValueError(f"{what} hold NaN or infinite values; check how they were made.")
        if x_min < lo - 1e-3 or x_max > hi + 1e-3:
            hint = " They look like 0..255 pixels: divide by 255." if x_max > 2 else ""
            raise ValueError(f"{what} must lie in [{lo:g}, {hi:g}], got values from {x_min:.3g} to {x_max:.3g}.{hint}")
    return x


def _check_shape(x: Any, image_shape: Sequence[int], what: str) -> torch.Tensor:
    c, h, w = image_shape
    if not isinstance(x, torch.Tensor):
        hint = " Convert it with torch.from_numpy(x).float() (and / 255 for 0..255 pixels)." if type(x).__module__ == "numpy" else ""
        raise TypeError(f"{what} must be a torch.Tensor of shape (B, {c}, {h}, {w}), got {type(x).__name__}.{hint}")
    if not torch.is_floating_point(x):
        raise TypeError(
            f"{what} must be floating point in [0, 1], got dtype {x.dtype}. Convert uint8 pixels with x.float() / 255."
        )
    if x.dtype in (torch.float64, torch.float16):  # bfloat16 stays allowed: a bf16-true run trains on it
        raise TypeError(f"{what} must be float32 (the models' weights are), got {x.dtype}; convert with x.float().")
    if x.ndim == 4 and tuple(x.shape[1:]) == (c, h, w):
        return x
    if x.ndim == 2 and x.shape[1] == c * h * w:
        return x.reshape(-1, c, h, w)
    hint = " Add a batch dimension with x.unsqueeze(0)." if tuple(x.shape) == (c, h, w) else ""
    raise ValueError(
        f"{what} must have shape (B, {c}, {h}, {w}) or (B, {c * h * w}), got {tuple(x.shape)}.{hint}"
    )


MAX_COUNT = 1_000_000  # more samples (or units) than this in one call would fill the memory of a laptop


def check_count(n: Any, what: str = "n", maximum: int = MAX_COUNT) -> int:
    """Return ``n`` as an int if it is a positive integer (``int``, a numpy integer, a 0-d integer tensor) of at
    most ``maximum`` (a huge ``sample(n)`` is refused, not an out-of-memory crash)."""
    if isinstance(n, torch.Tensor) and n.ndim == 0 and not n.is_floating_point() and n.dtype != torch.bool:
        n = int(n)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{what} must be a positive int, got {n!r} ({type(n).__name__}).")
    if n <= 0:
        raise ValueError(f"{what} must be a positive int, got {n}.")
    if n > maximum:
        raise ValueError(f"{what} = {n:,} is more than {maximum:,} in one call (it would not fit in memory); ask for "
                         f"fewer, in several calls if need be.")
    return int(n)


def check_latents(z: Any, latent_dim: int, what: str = "latent codes") -> torch.Tensor:
    """Return ``z`` as a float32 batch ``(B, latent_dim)`` of finite values, or raise an error saying what to change.

    NaN or infinite latents would decode to NaN images without a word; numpy arrays, integer and other float
    dtypes are refused with the conversion to make.
    """
    if not isinstance(z, torch.Tensor):
        hint = " Convert it with torch.from_numpy(z).float()." if type(z).__module__ == "numpy" else ""
        raise TypeError(f"{what} must be a torch.Tensor of shape (B, {latent_dim}), got {type(z).__name__}.{hint}")
    if not torch.is_floating_point(z):
        raise TypeError(f"{what} must be floating point, got dtype {z.dtype}; use z.float().")
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"{what} must have shape (B, {latent_dim}), got {tuple(z.shape)}.")
    if not _tracing() and z.numel() and not bool(torch.isfinite(z).all()):
        raise ValueError(f"{what} hold NaN or infinite values; check how they were made.")
    return z.float()


def _tracing() -> bool:
    """``True`` while the model is being traced or exported (ONNX): value checks cannot be part of a graph."""
    exporting = getattr(torch.compiler, "is_exporting", lambda: False)
    return bool(torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling() or exporting())


def check_positive(value: Any, what: str, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is a finite number > 0 (or >= 0), else raise a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{what} must be a finite number {bound}, got {value}.")
    return value


MAX_SIZE = 1 << 16  # a layer or latent size beyond this would need tens of GB; refused before anything is built


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_value(value: Any, hint: Any, what: str) -> Any:
    """``value`` checked against the type hint ``hint`` (bool, int, float, str, Sequence[int], Optional[...])."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if value is None and type(None) in args:
            return None
        others = [a for a in args if a is not type(None)]
        return _check_value(value, others[0], what) if len(others) == 1 else value
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{what} must be true or false (a JSON boolean), got {value!r} ({type(value).__name__}); "
                            f"a string such as \"false\" is not a boolean.")
        return value
    if hint is int:
        if not _is_int(value):
            raise TypeError(f"{what} must be a whole number, got {value!r} ({type(value).__name__}).")
        if not 0 < value <= MAX_SIZE:
            raise ValueError(f"{what} must be between 1 and {MAX_SIZE:,}, got {value}.")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise TypeError(f"{what} must be a finite number, got {value!r} ({type(value).__name__}).")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"{what} must be a string, got {value!r} ({type(value).__name__}).")
        return value
    if origin in (list, tuple, Sequence, typing.Sequence) or (origin is not None and getattr(origin, "__name__", "") == "Sequence"):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise TypeError(f"{what} must be a list, got {value!r} ({type(value).__name__}).")
        inner = args[0] if args else Any
        return [_check_value(v, inner, f"{what}[{i}]") for i, v in enumerate(value)]
    return value


def check_model_arguments(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` for model class ``cls``, checked against the types in its ``__init__`` signature.

    A flag must be a real ``bool`` (the JSON string ``"false"`` is truthy in Python and would switch the
    option on), a size a positive whole number (``1.5`` would silently become 1), a number finite, a list a
    list. Unknown names are refused with the list of the accepted ones. Returns the checked arguments.
    """
    params = {k: p for k, p in inspect.signature(cls.__init__).parameters.items()
              if k != "self" and p.kind is p.POSITIONAL_OR_KEYWORD}
    if not isinstance(kwargs, dict):
        raise TypeError(f"model arguments must be a mapping of names to values, got {type(kwargs).__name__}.")
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ValueError(f"{cls.__name__} takes no argument(s) {unknown}; it takes {sorted(params)}.")
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 -- unresolvable annotations: fall back to the models' own checks
        hints = {}
    return {k: _check_value(v, hints.get(k, Any), k) for k, v in kwargs.items()}


class HistoryModule(pl.LightningModule):
    """A LightningModule that keeps per-epoch means of its losses in ``self.history``.

    Steps call :meth:`accumulate` with detached scalars; nothing is logged per step, because per-step logging
    costs about a millisecond, which is more than a small model's own step. At the end of each training epoch
    the means (train and validation) are appended to ``self.history`` and logged once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.step_history: dict[str, list[float]] = {}
        self._sums: dict[str, dict[str, Any]] = {}  # per stage: {"keys": names, "total": their weighted sums}
        self._counts: dict[str, list[int]] = {}
        self._step_buffer: dict[str, list[torch.Tensor]] = {}
        self._fit_started = 0.0
        self._elapsed_before = 0.0

    def __setattr__(self, name: str, value: Any) -> None:
        """Lightning names the hook it is in (``_current_fx_name``) before and after every hook call, about 30 times a
        training step. ``nn.Module.__setattr__`` checks each value for parameters, buffers and submodules (about
        1.1 us, 0.1 us without); that name only ever holds a string or ``None``, so it is set directly: the same
        result, 0.03 ms less a step, about 1% of the MLP VAE's bf16 step on an AMX CPU."""
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    # ---- accumulation
    def accumulate(self, stage: str, batch_size: int, **values: torch.Tensor) -> None:
        """Add batch-mean ``values`` (weighted by ``batch_size``) to this epoch's running sums for ``stage``.

        The values are stacked into one tensor and added with one fused multiply-add: two tensor operations a
        step whatever the number of values (one per value, per step, cost a measurable share of a small step).
        """
        keys = tuple(values)
        stacked = torch.stack([v.detach() for v in values.values()]).float()
        sums = self._sums.get(stage)
        if sums is None or sums["keys"] != keys:
            if sums is not None:  # another set of values in the same epoch: keep what was summed so far
                raise ValueError(f"accumulate({stage!r}) got values {keys}, earlier in this epoch {sums['keys']}.")
            self._sums[stage] = {"keys": keys, "total": stacked * batch_size}
        else:
            sums["total"].add_(stacked, alpha=batch_size)
        counts = self._counts.setdefault(stage, [0])
        counts[0] += batch_size  # a Python int: no tensor op per step

    def record_step(self, **values: torch.Tensor) -> None:
        """Keep per-step scalars (GAN loss curves); converted to floats once an epoch, not every step."""
        for key, value in values.items():
            self._step_buffer.setdefault(key, []).append(value.detach().float())

    def _flush_steps(self) -> None:
        for key, values in self._step_buffer.items():
            if values:
                self.step_history.setdefault(key, []).extend(torch.stack(values).cpu().tolist())
        self._step_buffer = {}

    def _flush(self, stage: str) -> dict[str, float]:
        sums = self._sums.pop(stage, None)
        count = self._counts.pop(stage, [0])[0]
        if not sums:
            return {}
        total = sums["total"]
        stacked = torch.cat([total, total.new_tensor([float(count)])])
        gathered = self.all_gather(stacked)  # sums over DDP ranks; a no-op on one device
        if gathered.ndim > stacked.ndim:
            gathered = gathered.sum(0)
        *totals, n = gathered.tolist()
        return {f"{stage}_{k}": v / n for k, v in sorted(zip(sums["keys"], totals))}

    # ---- Lightning hooks
    def on_fit_start(self) -> None:  # noqa: D102
        self._fit_started = time.perf_counter()
        self._elapsed_before = self.history["time_s"][-1] if self.history.get("time_s") else 0.0

    def on_train_epoch_start(self) -> None:  # noqa: D102
        self._sums.pop("train", None)
        self._counts.pop("train", None)

    def on_validation_epoch_start(self) -> None:  # noqa: D102
        self._sums.pop("val", None)
        self._counts.pop("val", None)

    def on_train_epoch_end(self) -> None:  # noqa: D102
        self._flush_steps()
        means = {**self._flush("train"), **self._flush("val")}
        means["epoch"] = float(len(self.history.get("epoch", [])) + 1)
        means["time_s"] = self._elapsed_before + time.perf_counter() - self._fit_started
        for key, value in means.items():
            self.history.setdefault(key, []).append(value)
        self.log_dict({k: v for k, v in means.items() if k not in ("epoch", "time_s")}, sync_dist=False)

    # ---- optimisers
    def make_optimizers(self, total_steps: int | None = None) -> Any:
        """The model's optimisers (and schedule), in the form ``configure_optimizers`` returns.

        ``total_steps`` is the run's number of optimisation steps, for schedules that need it. The benchmark's
        bare PyTorch loop calls this too, so both paths train with the same optimiser.
        """
        raise NotImplementedError

    def configure_optimizers(self) -> Any:  # noqa: D102
        return self.make_optimizers(total_steps=int(self.trainer.estimated_stepping_batches))

    # ---- checkpoints
    def checkpoint_dict(self, **meta: Any) -> dict[str, Any]:
        """Everything needed to rebuild this model: class, hyper-parameters, weights, history, and ``meta``."""
        return {
            "format": CHECKPOINT_FORMAT,
            "model_class": type(self).__name__,
            "hparams": _plain(dict(self.hparams)),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            "history": {k: list(v) for k, v in self.history.items()},
            "step_history": {k: list(v) for k, v in self.step_history.items()},
            "meta": _plain(meta),
            "extra": self.extra_state_for_checkpoint(),
        }

    def extra_state_for_checkpoint(self) -> dict[str, Any]:
        """Tensors or plain values beyond the weights that a subclass wants saved (e.g. GAN sample snapshots)."""
        return {}

    def restore_extra(self, extra: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state_for_checkpoint` saved."""


class LossModule(HistoryModule):
    """A model trained by one loss (the VAEs and the classifiers).

    Subclasses implement :meth:`batch_loss`; the training and validation steps are that loss plus bookkeeping.
    The training step is written out (Lightning's manual optimisation): loss, ``zero_grad``, ``backward``,
    ``step``, the plain loop's four calls. Lightning's automatic optimisation would do the same through a
    closure and half a dozen more hooks a step, which cost the MLP VAE, whose step is about 10 ms on two CPU
    cores, a measurable share of its run (the whole-run benchmark: 1.19x a bare loop before, 1.04x after).
    """

    automatic_optimization = False

    def batch_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The loss of one batch and its parts as batch means: ``{"loss": ..., ...}``.

        The one per-batch loss of the model: its ``training_step`` and the benchmark's bare loop both call it.
        """
        raise NotImplementedError

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:  # noqa: D102
        optimizer = self.optimizers()
        losses = self.batch_loss(batch)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(losses["loss"])  # Lightning's backward: mixed precision and DDP's gradient sync
        optimizer.step()
        self._step_schedules("step")
        self.accumulate("train", batch[0].shape[0], **losses)
        return losses["loss"]

    def on_train_epoch_end(self) -> None:  # noqa: D102
        super().on_train_epoch_end()
        self._step_schedules("epoch")

    def _step_schedules(self, interval: str) -> None:
        """Step the learning-rate schedules that step every ``interval`` (``"step"`` or ``"epoch"``), as automatic
        optimisation would (the classifier's one-cycle steps every batch)."""
        for config in self.trainer.lr_scheduler_configs:
            if config.interval == interval and (interval == "step" or (self.current_epoch + 1) % config.frequency == 0):
                config.scheduler.step()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:  # noqa: D102
        self.accumulate("val", batch[0].shape[0], **self.batch_loss(batch))


def _plain(obj: Any) -> Any:
    """Turn tuples into lists recursively, so ``torch.load(weights_only=True)`` can read the object back."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj

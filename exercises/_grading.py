"""The grading machinery behind ``pytest exercises``: where the graded functions come from, and how a check
reports a mistake.

Learners never need to read this file. The checks in ``test_*.py`` call :func:`check` and friends; the hooks
in ``conftest.py`` turn the results into points.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import torch

EXERCISES_DIR = Path(__file__).resolve().parent

# Where each chapter's reference solutions live in the package, function by function ("module:attribute").
REFERENCES: dict[str, dict[str, str]] = {
    "vae": {
        "reparameterize": "fundamentalml.models.vae:reparameterize",
        "kl_divergence": "fundamentalml.models.vae:kl_divergence",
        "vae_loss": "fundamentalml.models.vae:vae_loss",
        "conv_output_size": "fundamentalml.models.shapes:conv_output_size",
        "conv_transpose_output_size": "fundamentalml.models.shapes:conv_transpose_output_size",
        "lerp": "fundamentalml.models.latent:lerp",
        "slerp": "fundamentalml.models.latent:slerp",
    },
    "dcgan": {
        "init_dcgan_weights": "fundamentalml.models.dcgan:init_dcgan_weights",
        "discriminator_loss": "fundamentalml.models.dcgan:discriminator_loss",
        "generator_loss": "fundamentalml.models.dcgan:generator_loss",
        "generator_block": "fundamentalml.models.dcgan:generator_block",
    },
    "conditional": {
        "one_hot_maps": "fundamentalml.models.conditional:one_hot_maps",
        "concat_condition": "fundamentalml.models.conditional:concat_condition",
        "conditioning_accuracy": "fundamentalml.metrics:conditioning_accuracy",
        "class_interpolation_labels": "fundamentalml.models.conditional:class_interpolation_labels",
    },
}


class ExerciseFailure(AssertionError):
    """A check found a mistake; the message is already written for the learner."""


class ExerciseTimeout(BaseException):
    """A graded function ran past the time limit.

    A ``BaseException`` so that a learner's ``except Exception`` cannot swallow it.
    """


def _short(value: Any, limit: int = 300) -> str:
    """A compact, single-paragraph description of ``value`` for a failure message."""
    if isinstance(value, torch.Tensor):
        head = f"tensor of shape {tuple(value.shape)}, dtype {str(value.dtype).replace('torch.', '')}"
        if value.numel() == 0:
            return head + " (empty)"
        flat = value.detach().flatten()
        shown = ", ".join(_fmt(float(v)) for v in flat[:6])
        more = ", ..." if flat.numel() > 6 else ""
        return f"{head}: [{shown}{more}]"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.4g}"


def check(condition: Any, *, expected: Any, got: Any, hint: str) -> None:
    """Fail the current check with a message saying what was expected, what came back, and a hint.

    ``expected`` and ``got`` may be strings (shown as they are) or values (summarised, tensors by shape,
    dtype and first entries).
    """
    __tracebackhide__ = True  # pytest then shows our message, not this frame
    if condition:
        return
    exp = expected if isinstance(expected, str) else _short(expected)
    gt = got if isinstance(got, str) else _short(got)
    raise ExerciseFailure(f"expected: {exp}\n     got: {gt}\n    hint: {hint}")


def check_tensor(value: Any, *, shape: tuple[int, ...] | None = None, dtype: torch.dtype | None = None,
                 what: str = "the result", hint: str = "") -> torch.Tensor:
    """Check that ``value`` is a tensor (of ``shape`` and ``dtype`` when given) and return it."""
    __tracebackhide__ = True
    check(isinstance(value, torch.Tensor), expected=f"{what} to be a torch.Tensor",
          got=f"{type(value).__name__}: {_short(value)}", hint=hint or "build the result with torch operations.")
    if shape is not None:
        check(tuple(value.shape) == tuple(shape), expected=f"{what} of shape {tuple(shape)}",
              got=f"shape {tuple(value.shape)}", hint=hint or "check which dimensions you sum or concatenate over.")
    if dtype is not None:
        check(value.dtype == dtype, expected=f"{what} of dtype {str(dtype).replace('torch.', '')}",
              got=f"dtype {str(value.dtype).replace('torch.', '')}", hint=hint or "convert with .float() or pass dtype=.")
    return value


def check_close(got: Any, expected: torch.Tensor, *, what: str, hint: str,
                rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Check that tensor ``got`` has ``expected``'s shape and is within tolerance of it."""
    __tracebackhide__ = True
    got = check_tensor(got, shape=tuple(expected.shape), what=what, hint=hint)
    close = torch.allclose(got.detach().to(expected.dtype), expected.detach(), rtol=rtol, atol=atol, equal_nan=True)
    if close:
        return
    diff = (got.detach().to(expected.dtype) - expected.detach()).abs()
    worst = int(torch.nan_to_num(diff, nan=float("inf")).flatten().argmax())
    check(False, expected=f"{what} = {_short(expected)}",
          got=f"{_short(got)} (largest difference {_fmt(float(diff.flatten()[worst]))} at flat index {worst})",
          hint=hint)


# ------------------------------------------------------------------------------------------ loading code


def _import_path_or_module(spec: str) -> ModuleType:
    """Import a module from a file path (``path/to/file.py``) or a dotted name."""
    if spec.endswith(".py") or Path(spec).is_file():
        path = Path(spec).resolve()
        name = f"_graded_{abs(hash(str(path)))}"
        if name in sys.modules:
            return sys.modules[name]
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        try:
            loader_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]  # never leave a half-imported module behind
            raise
        return module
    return importlib.import_module(spec)


def load_reference(chapter: str, name: str) -> Callable[..., Any]:
    """The package's reference solution for exercise function ``name`` of ``chapter``."""
    module_name, attr = REFERENCES[chapter][name].split(":")
    return getattr(importlib.import_module(module_name), attr)


class Implementation:
    """The functions a run grades for one chapter: the learner's stubs, the references, or any module.

    Attribute access loads lazily, so a module that fails to import, or lacks a function, fails the checks
    that need it (with a readable message) instead of stopping the whole run.
    """

    def __init__(self, chapter: str, source: str) -> None:
        self.chapter = chapter
        self.source = source  # "solutions", or a module name / file path
        self._module: ModuleType | None = None
        self._error: str | None = None  # why the import failed, reported by every check that needs it

    @property
    def file(self) -> str | None:
        """The graded module's file, used to point at the learner's line when their code crashes."""
        if self.source == "solutions":
            return None
        try:
            return getattr(self._load(), "__file__", None)
        except ExerciseFailure:
            return None

    def describe(self) -> str:
        """Where the graded code comes from, for the report header."""
        return "package reference solutions" if self.source == "solutions" else self.source

    def preload(self) -> None:
        """Import the graded module now, outside any check's time limit (importing torch code is slow)."""
        try:
            if self.source == "solutions":
                for name in REFERENCES[self.chapter]:
                    load_reference(self.chapter, name)
            else:
                self._load()
        except Exception:
            pass  # reported by each check that needs the missing piece

    def _load(self) -> ModuleType:
        if self._error is not None:
            raise ExerciseFailure(self._error)
        if self._module is None:
            try:
                self._module = _import_path_or_module(self.source)
            except Exception as err:  # a learner's syntax error must fail checks, not the collection
                self._error = (
                    f"expected: {self.source} to import\n     got: {type(err).__name__}: {err}\n"
                    f"    hint: fix that error first (run `python {self.source}` to see it in full)."
                )
                raise ExerciseFailure(self._error) from None
        return self._module

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        if self.source == "solutions":
            try:
                return load_reference(self.chapter, name)
            except (ImportError, AttributeError, KeyError) as err:
                raise ExerciseFailure(
                    f"expected: the package to provide the reference `{name}`\n     got: {type(err).__name__}: {err}\n"
                    "    hint: update the fundamentalml package (pip install -e .)."
                ) from None
        module = self._load()
        if not hasattr(module, name):
            raise ExerciseFailure(
                f"expected: a function `{name}` in {self.source}\n     got: no such name\n"
                "    hint: keep the function names and signatures of the exercise file."
            )
        return getattr(module, name)


def default_source(chapter: str) -> str:
    """The learner's module for ``chapter``: ``exercises/<chapter>.py``."""
    return str(EXERCISES_DIR / f"{chapter}.py")

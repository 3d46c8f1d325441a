"""The grading machinery behind ``pytest exercises``: where the graded functions come from, how a check calls
them and reports a mistake, the state every check starts from, and the time limit.

Learners never need to read this file. The checks in ``checks/test_*.py`` call :func:`call`, :func:`check` and
friends; the hooks in ``plugin.py`` turn the results into points, and ``_workers.py`` runs each chapter's checks in
a process of its own.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import math
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Callable, Iterator, NamedTuple

import torch

from ..identity import GRADER_NO_ALARM_ENV, HINT_LEVEL_ENV  # HINT_LEVEL_ENV: the default of --hint-level

CHECKS_DIR = Path(__file__).resolve().parent / "checks"  # the graded checks, shipped with the package

# ------------------------------------------------------------------------------------------ the exercises

CHAPTER_NAMES = {"vae": "VAE", "dcgan": "DCGAN", "conditional": "conditional"}
MAX_HINT_LEVEL = 3
DEFAULT_TIMEOUT_S = 10.0  # the time limit of one check (--exercise-timeout, grade(timeout=...))


class Exercise(NamedTuple):
    """One graded exercise: the functions it asks for, its difficulty, and its hints beyond the first.

    Hints come in three tiers, from a nudge to the formula. Tier 1 is what every failure shows: the nudge in the
    stub's ``NotImplementedError``, and each check's own hint, which says what the result gives away (a wrong
    shape, a missing factor) without the answer. ``hints[0]`` (tier 2, ``--hint-level 2``) says how: the steps
    and the torch functions. ``hints[1]`` (tier 3, ``--hint-level 3``) gives the formula, or the key line.
    """

    key: str  # the key of the checks' ``exercise`` marker: "<chapter>.<name>"
    functions: tuple[str, ...]
    level: int  # difficulty: 1 (*), 2 (**) or 3 (***)
    module: str  # where the package's reference solutions of ``functions`` live: the graders' answer key
    hints: tuple[str, str]  # tiers 2 and 3

    @property
    def chapter(self) -> str:
        return self.key.split(".")[0]

    @property
    def number(self) -> int:
        """Its place in the order of rising difficulty, from 1."""
        return [e.key for e in EXERCISES].index(self.key) + 1

    @property
    def stars(self) -> str:
        return "*" * self.level

    @property
    def title(self) -> str:
        """``7. kl_divergence (VAE, **)``: how messages and scores name it."""
        return f"{self.number}. {' / '.join(self.functions)} ({CHAPTER_NAMES[self.chapter]}, {self.stars})"


# Every exercise, in order of rising difficulty (the order the checks run and the scores list them), within a
# level in the book's chapter order. The book's exercises page and exercises/README.md follow this order.
EXERCISES: list[Exercise] = [
    # * warm-ups: one idea, a line or two
    Exercise("vae.lerp", ("lerp",), 1, "fundamentalml.models.latent", (
        "torch.linspace(0, 1, steps, dtype=z_a.dtype) gives every t_i at once; t[:, None] has shape (steps, 1), and "
        "(steps, 1) times a code of shape (D,) broadcasts to (steps, D).",
        "t = torch.linspace(0, 1, steps, dtype=z_a.dtype)[:, None]; return (1 - t) * z_a + t * z_b",
    )),
    Exercise("vae.reparameterize", ("reparameterize",), 1, "fundamentalml.models.vae", (
        "sigma^2 = exp(logvar), so sigma = exp(logvar / 2); torch.randn_like(mu) draws one standard normal value "
        "per entry of mu, in mu's dtype, afresh on every call.",
        "return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)",
    )),
    Exercise("dcgan.generator_loss", ("generator_loss",), 1, "fundamentalml.models.dcgan", (
        "F.binary_cross_entropy_with_logits(logits, targets) averages -log sigmoid(logit) for target 1, stably; "
        "the fakes' target is 1 here (torch.ones_like(fake_logits)).",
        "return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))",
    )),
    Exercise("conditional.one_hot_maps", ("one_hot_maps",), 1, "fundamentalml.models.conditional", (
        "F.one_hot(labels.long(), num_classes) gives (B, K) integers: .float() them, add two trailing dimensions "
        "with [:, :, None, None] and .expand(-1, -1, height, width).",
        "return F.one_hot(labels.long(), num_classes).float()[:, :, None, None].expand(-1, -1, height, width)",
    )),
    Exercise("conditional.class_interpolation_labels", ("class_interpolation_labels",), 1,
             "fundamentalml.models.conditional", (
        "torch.eye(num_classes)[c] is the one-hot vector of c; t = torch.linspace(0, 1, steps)[:, None] has one "
        "weight per row.",
        "eye = torch.eye(num_classes); t = torch.linspace(0, 1, steps)[:, None]; "
        "return (1 - t) * eye[start_class] + t * eye[end_class]",
    )),
    # ** core: several pieces, a reduction or an edge to get right
    Exercise("vae.kl_divergence", ("kl_divergence",), 2, "fundamentalml.models.vae", (
        "sigma^2 is logvar.exp() and log(sigma^2) is logvar itself; .sum(dim=-1) adds up the dimensions of each row "
        "and keeps one KL per row.",
        "return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=-1)",
    )),
    Exercise("vae.conv_sizes", ("conv_output_size", "conv_transpose_output_size"), 2, "fundamentalml.models.shapes", (
        "a convolution: the padded input has size + 2 * padding pixels, the kernel's first position covers kernel of "
        "them, and each further position stride more (// rounds down). A transposed convolution runs that backwards: "
        "solve it for the input size, then add output_padding.",
        "conv: (size + 2 * padding - kernel) // stride + 1; "
        "transposed: (size - 1) * stride - 2 * padding + kernel + output_padding",
    )),
    Exercise("vae.vae_loss", ("vae_loss",), 2, "fundamentalml.models.vae", (
        "F.binary_cross_entropy(recon, x, reduction='sum') adds up every pixel of every image: divide it by the batch "
        "size x.shape[0]; kl_divergence(mu, logvar) gives one KL per row: average it with .mean().",
        "bce = F.binary_cross_entropy(recon, x, reduction='sum') / x.shape[0]; "
        "kl = kl_divergence(mu, logvar).mean(); return bce + beta * kl, bce, kl",
    )),
    Exercise("dcgan.discriminator_loss", ("discriminator_loss",), 2, "fundamentalml.models.dcgan", (
        "F.binary_cross_entropy_with_logits works on logits and averages over its batch; the targets are "
        "torch.ones_like(real_logits) and torch.zeros_like(fake_logits): one call per batch, then add.",
        "return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) "
        "+ F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))",
    )),
    Exercise("dcgan.generator_block", ("generator_block",), 2, "fundamentalml.models.dcgan", (
        "nn.ConvTranspose2d(in, out, kernel_size, stride, padding, bias=...) doubles H and W with kernel 4, stride 2, "
        "padding 1; nn.BatchNorm2d takes the number of channels it normalises, out_channels.",
        "return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False), "
        "nn.BatchNorm2d(out_channels), nn.ReLU())",
    )),
    Exercise("dcgan.init_dcgan_weights", ("init_dcgan_weights",), 2, "fundamentalml.models.dcgan", (
        "isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) (a ConvTranspose2d is not a Conv2d) and "
        "isinstance(module, nn.BatchNorm2d); nn.init.normal_(tensor, mean, std) and nn.init.zeros_(tensor) change "
        "a parameter in place; a conv made with bias=False has module.bias None.",
        "conv: nn.init.normal_(module.weight, 0.0, 0.02), and nn.init.zeros_(module.bias) if module.bias is not None; "
        "batch norm: nn.init.normal_(module.weight, 1.0, 0.02); nn.init.zeros_(module.bias)",
    )),
    Exercise("conditional.concat_condition", ("concat_condition",), 2, "fundamentalml.models.conditional", (
        "F.one_hot(labels.long(), num_classes).to(x.dtype) is the condition of vectors; for images, give it two "
        "trailing dimensions and .expand it to x's H and W; then torch.cat([x, condition], dim=1).",
        "c = F.one_hot(labels.long(), num_classes).to(x.dtype); if x.ndim == 4: c = c[:, :, None, None].expand(-1, -1, "
        "*x.shape[2:]); return torch.cat([x, c], dim=1)",
    )),
    Exercise("conditional.conditioning_accuracy", ("conditioning_accuracy",), 2, "fundamentalml.metrics", (
        "correct = (predicted == intended).float(); its mean is the accuracy (.item() makes a float); for class c, "
        "average correct[intended == c], and leave nan where no image was intended as c.",
        "per_class = torch.full((num_classes,), float('nan')); for c in range(num_classes): mask = intended == c; "
        "if mask.any(): per_class[c] = correct[mask].mean(); return correct.mean().item(), per_class",
    )),
    # *** challenges: numerical care, or a definition to turn into code with thought
    Exercise("vae.slerp", ("slerp",), 3, "fundamentalml.models.latent", (
        "cos = (z_a @ z_b) / (z_a.norm() * z_b.norm()), clamped to [-1, 1]; omega = torch.arccos(cos); when |cos| is "
        "within about 5e-4 of 1 (parallel or opposite codes) return the straight line of lerp; otherwise weight with "
        "t = torch.linspace(0, 1, steps, dtype=z_a.dtype)[:, None].",
        "if cos.abs() > 0.9995: return lerp(z_a, z_b, steps); "
        "return (torch.sin((1 - t) * omega) * z_a + torch.sin(t * omega) * z_b) / torch.sin(omega)",
    )),
    Exercise("dcgan.gaussian_frechet_distance", ("gaussian_frechet_distance",), 3, "fundamentalml.metrics", (
        "S1 S2 is not symmetric, but with R = S1^(1/2) it is similar to the symmetric R S2 R: same eigenvalues, so "
        "Tr((S1 S2)^(1/2)) = Tr((R S2 R)^(1/2)) = the sum of the square roots of R S2 R's eigenvalues. "
        "torch.linalg.eigh(A) gives A = V diag(l) V^T, and A^(1/2) = V diag(sqrt(l)) V^T; work in float64.",
        "R = V diag(sqrt(l.clamp_min(0))) V^T from torch.linalg.eigh(S1); "
        "l2 = torch.linalg.eigvalsh(R @ S2 @ R).clamp_min(0); "
        "d = ((mu1 - mu2) ** 2).sum() + S1.trace() + S2.trace() - 2 * l2.sqrt().sum()",
    )),
    Exercise("conditional.collapsed_classes", ("collapsed_classes",), 3, "fundamentalml.metrics", (
        "for each class in labels.unique(): features[labels == c] and real_features[real_labels == c]; torch.cdist(f, f) "
        "gives all n * n distances, n of them the zero distance of a sample to itself: the mean over pairs of "
        "different samples divides the sum by n * (n - 1) (or use torch.pdist(f).mean()).",
        "div = lambda f: torch.cdist(f, f).sum() / (len(f) * (len(f) - 1)); "
        "collapsed when div(fake_c) < threshold * div(real_c); raise ValueError when len(fake_c) < 2 or len(real_c) < 2",
    )),
    # *** build-it: a training step, an update, a module, put together from the chapter's pieces (chapter order)
    Exercise("vae.vae_step", ("vae_step",), 3, "fundamentalml.loops", (
        "mu, logvar = model.encode(x); z = reparameterize(mu, logvar) (exercise 2); "
        "F.binary_cross_entropy(model.decode(z), x, reduction='sum') / len(x) is the BCE per image (or "
        "F.binary_cross_entropy_with_logits on model.decode_logits(z)); add the batch mean of the KL (exercise 6); "
        "then optimizer.zero_grad(), loss.backward(), optimizer.step().",
        "loss, bce, kl = vae_loss(model.decode(z), x, mu, logvar); optimizer.zero_grad(); loss.backward(); "
        "optimizer.step(); return loss.detach()",
    )),
    Exercise("dcgan.gan_update", ("gan_update",), 3, "fundamentalml.models.dcgan", (
        "fake = generator(z); D's turn: discriminator_loss(discriminator(real), discriminator(fake.detach())) "
        "(exercise 9), opt_d.zero_grad(), backward(), opt_d.step(); G's turn: generator_loss(discriminator(fake)) "
        "(exercise 3: the fakes labelled 1), opt_g.zero_grad(), backward(), opt_g.step().",
        "d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach())); opt_d.zero_grad(); "
        "d_loss.backward(); opt_d.step(); g_loss = generator_loss(discriminator(fake)); opt_g.zero_grad(); "
        "g_loss.backward(); opt_g.step(); return d_loss.detach(), g_loss.detach()",
    )),
    Exercise("conditional.ConditionalDecoder", ("ConditionalDecoder",), 3, "fundamentalml.models.conditional", (
        "in __init__: self.net = nn.Sequential(nn.Linear(latent_dim + num_classes, hidden), nn.ReLU(), "
        "nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 28 * 28)); in forward: "
        "F.one_hot(labels, self.num_classes).to(z.dtype) is the label as a vector; torch.cat([z, it], dim=1) is the "
        "network's input; .view(-1, 1, 28, 28) the image.",
        "def forward(self, z, labels): y = F.one_hot(labels.long(), self.num_classes).to(z.dtype); "
        "return self.net(torch.cat([z, y], dim=1)).view(-1, 1, 28, 28)",
    )),
]
_BY_KEY = {e.key: e for e in EXERCISES}
assert len(_BY_KEY) == len(EXERCISES)

# Chapter -> exercise function -> its reference solution ("module:attribute"), in the book's chapter order.
REFERENCES: dict[str, dict[str, str]] = {
    chapter: {f: f"{e.module}:{f}" for e in EXERCISES if e.chapter == chapter for f in e.functions}
    for chapter in CHAPTER_NAMES
}


def exercise_of(key: str) -> Exercise | None:
    """The exercise with marker key ``key`` (None for a key outside the catalogue)."""
    return _BY_KEY.get(key)


# How a learner asks for hint level N, where the checks run from: pytest in a clone, or grade() in a notebook.
ASK_FOR_HINTS = {
    "pytest": "run again with --hint-level {level}",
    "notebook": "call grade(..., hint_level={level}) again",
}


def hint_lines(key: str, level: int, frontend: str = "pytest") -> str:
    """The lines a failure of exercise ``key`` adds at hint ``level``: the tiers above 1 up to ``level``, then how
    to see the next one (said for ``frontend``, a key of :data:`ASK_FOR_HINTS`)."""
    ex = exercise_of(key)
    if ex is None:
        return ""
    lines = [f"  hint {tier}: {ex.hints[tier - 2]}" for tier in range(2, min(level, MAX_HINT_LEVEL) + 1)]
    if level < MAX_HINT_LEVEL:
        what = "a more specific hint" if level < 2 else "the formula"
        lines.append(f"    more: {ASK_FOR_HINTS[frontend].format(level=level + 1)} for {what}")
    return "\n".join(lines)


class ExerciseFailure(AssertionError):
    """A check found a mistake; the message is already written for the learner."""


class ExerciseTimeout(BaseException):
    """A graded function ran past the time limit.

    A ``BaseException`` so that a learner's ``except Exception`` cannot swallow it. A bare ``except:`` can: the
    alarm then fires again every :data:`REPEAT_S` seconds, and the process running the checks is ended from
    outside when even that does not stop the code (see ``_workers.py``).
    """


# ------------------------------------------------------------------------------------------ messages


def _short(value: Any, limit: int = 300) -> str:
    """A compact, single-paragraph description of ``value`` for a failure message."""
    if isinstance(value, torch.Tensor):
        head = f"tensor of shape {tuple(value.shape)}, dtype {_dtype_name(value.dtype)}"
        if value.numel() == 0:
            return head + " (empty)"
        flat = value.detach().flatten()
        shown = ", ".join(_fmt(v) for v in flat[:6].tolist())
        more = ", ..." if flat.numel() > 6 else ""
        return f"{head}: [{shown}{more}]"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _fmt(x: Any) -> str:
    """One entry of a tensor (from ``.tolist()``: a bool, int, float or complex)."""
    if isinstance(x, (bool, int)):
        return str(x)
    if isinstance(x, complex):
        return f"{x:.4g}"
    x = float(x)
    return "nan" if math.isnan(x) else f"{x:.4g}"


def message(expected: str, got: str, hint: str) -> str:
    """The three lines of every failure a learner reads: what was expected, what came back, a hint."""
    return f"expected: {expected}\n     got: {got}\n    hint: {hint}"


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
    raise ExerciseFailure(message(exp, gt, hint))


def check_tensor(value: Any, *, shape: tuple[int, ...] | None = None, dtype: torch.dtype | None = None,
                 what: str = "the result", hint: str = "", dtype_hint: str = "") -> torch.Tensor:
    """Check that ``value`` is a tensor (of ``shape`` and ``dtype`` when given) and return it.

    ``hint`` explains a wrong type or shape, ``dtype_hint`` a wrong dtype: the two mistakes have different causes.
    """
    __tracebackhide__ = True
    check(isinstance(value, torch.Tensor), expected=f"{what} to be a torch.Tensor",
          got=f"{type(value).__name__}: {_short(value)}", hint=hint or "build the result with torch operations.")
    if shape is not None:
        check(tuple(value.shape) == tuple(shape), expected=f"{what} of shape {tuple(shape)}",
              got=f"shape {tuple(value.shape)}", hint=hint or "check which dimensions you sum or concatenate over.")
    if dtype is not None:
        check(value.dtype == dtype, expected=f"{what} of dtype {_dtype_name(dtype)}",
              got=f"dtype {_dtype_name(value.dtype)}",
              hint=dtype_hint or f"the docstring asks for {_dtype_name(dtype)}: compute with the inputs' own dtype "
                                 "(torch.*_like, dtype=x.dtype) or convert with .to(...).")
    return value


def _as_float64(t: torch.Tensor) -> torch.Tensor:
    """``t`` as float64 values for a comparison that does not care about dtypes (complex: its real part)."""
    t = t.detach()
    if t.is_complex():
        t = t.real
    return t.to(torch.float64)


def close(got: torch.Tensor, expected: torch.Tensor, *, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """``torch.allclose`` that compares values whatever the two dtypes (NaN matches NaN)."""
    if tuple(got.shape) != tuple(expected.shape):
        return False
    return torch.allclose(_as_float64(got), _as_float64(expected), rtol=rtol, atol=atol, equal_nan=True)


def check_close(got: Any, expected: torch.Tensor, *, what: str, hint: str,
                rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Check that tensor ``got`` has ``expected``'s shape and is within tolerance of it.

    Values are compared in float64, so a result in another dtype than ``expected`` loses no point here: the
    checks that care about the dtype say so with :func:`check_tensor`.
    """
    __tracebackhide__ = True
    got = check_tensor(got, shape=tuple(expected.shape), what=what, hint=hint)
    if close(got, expected, rtol=rtol, atol=atol):
        return
    diff = (_as_float64(got) - _as_float64(expected)).abs()
    worst = int(torch.nan_to_num(diff, nan=float("inf")).flatten().argmax())
    check(False, expected=f"{what} = {_short(expected)}",
          got=f"{_short(got)} (largest difference {_fmt(diff.flatten()[worst].item())} at flat index {worst})",
          hint=hint)


# ------------------------------------------------------------------------------------------ calling code


def _copy(value: Any) -> Any:
    """A copy of a tensor argument that still passes gradients back to the original."""
    return value.clone() if isinstance(value, torch.Tensor) else value


def _same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    a, b = a.detach(), b.detach()
    if a.is_floating_point() or a.is_complex():
        return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())
    return torch.equal(a, b)


def _argument_names(fn: Callable[..., Any], n_args: int, kwargs: dict[str, Any]) -> list[str]:
    try:
        names = [p.name for p in inspect.signature(fn).parameters.values()]
    except (TypeError, ValueError):
        names = []
    return [names[i] if i < len(names) else f"argument {i + 1}" for i in range(n_args)] + list(kwargs)


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the graded function ``fn`` on copies of its tensor arguments; fail if it changed any in place.

    The checks compute what they expect from their own tensors, never from the ones the learner's code saw, so
    a function that changes its inputs (``x /= x.norm()``, ``logvar.exp_()``) can neither hide its mistake
    nor pass it on to the expected values.
    """
    __tracebackhide__ = True
    copies = [_copy(a) for a in args]
    kwcopies = {k: _copy(v) for k, v in kwargs.items()}
    result = fn(*copies, **kwcopies)
    names = _argument_names(fn, len(args), kwargs)
    pairs = list(zip(args, copies)) + [(kwargs[k], kwcopies[k]) for k in kwargs]
    for name, (original, seen) in zip(names, pairs):
        if isinstance(original, torch.Tensor) and not _same_values(original, seen):
            check(False, expected=f"`{getattr(fn, '__name__', 'the function')}` to leave its input `{name}` unchanged",
                  got=f"`{name}` changed in place to {_short(seen)}",
                  hint="operations ending in _ (add_, div_, clamp_, exp_) and x += ..., x /= ..., x[...] = ... write "
                       "into the caller's tensor: write y = x / ... (a new tensor) instead.")
    return result


@contextlib.contextmanager
def hint_on_error(hint: str) -> Iterator[None]:
    """Give an error raised by the learner's code in the body this ``hint`` (the check knows what the inputs
    stress, e.g. flattened images): the failure message shows it instead of the generic one."""
    try:
        yield
    except ExerciseFailure:
        raise
    except Exception as err:
        try:
            err.grader_hint = hint  # type: ignore[attr-defined]
        except AttributeError:
            pass
        raise


# ------------------------------------------------------------------------------------------ global state


_STATE: list[tuple[str, Callable[[], Any], Callable[[Any], None]]] = [
    ("default dtype", torch.get_default_dtype, torch.set_default_dtype),
    ("grad mode", torch.is_grad_enabled, torch.set_grad_enabled),
    ("deterministic algorithms",
     lambda: (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()),
     lambda v: torch.use_deterministic_algorithms(v[0], warn_only=v[1])),
    ("anomaly detection",
     lambda: (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
     lambda v: torch.set_anomaly_enabled(*v)),
    ("cudnn flags",
     lambda: (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark),
     lambda v: (setattr(torch.backends.cudnn, "deterministic", v[0]), setattr(torch.backends.cudnn, "benchmark", v[1]))),
    ("threads", torch.get_num_threads, torch.set_num_threads),
]
if hasattr(torch, "get_default_device"):
    _STATE.append(("default device", torch.get_default_device, torch.set_default_device))


def torch_state() -> dict[str, Any]:
    """The global torch settings a learner's code can change for everyone: dtype, grad mode, determinism, ..."""
    return {name: get() for name, get, _ in _STATE}


def set_torch_state(state: dict[str, Any]) -> None:
    """Put back the settings of :func:`torch_state` (only those that differ: some are slow to set)."""
    for name, get, put in _STATE:
        if name in state and get() != state[name]:
            put(state[name])


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Train the checks' small models on one thread: faster for models this size, and far faster on a busy
    machine, where two threads wait on each other (the grader restores the setting after each check)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def fresh_torch_state(baseline: dict[str, Any], seed: int = 1234) -> Iterator[None]:
    """Run the body from ``baseline`` settings and a fixed seed, then restore whatever was there before."""
    before = torch_state()
    rng = torch.random.get_rng_state()
    set_torch_state(baseline)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        set_torch_state(before)
        torch.random.set_rng_state(rng)


# ------------------------------------------------------------------------------------------ time limit

REPEAT_S = 0.25  # after the limit, the alarm fires again this often, in case the learner's code caught it


def alarm_available() -> bool:
    """Whether :func:`time_limit` can interrupt code here: SIGALRM exists (not on Windows), main thread.

    ``FUNDAMENTALML_GRADER_NO_ALARM=1`` pretends it does not (the graders' tests use it to run the
    Windows code path on Linux).
    """
    return (hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
            and os.environ.get(GRADER_NO_ALARM_ENV, "") in ("", "0"))


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`ExerciseTimeout` in the body after ``seconds`` (0: no limit; no-op without SIGALRM).

    Another alarm already running (pytest-timeout's, longer) is put back afterwards.
    """
    if seconds <= 0 or not alarm_available():
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise ExerciseTimeout(f"stopped after {seconds:g} s")

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_S)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay > 0:
            signal.setitimer(signal.ITIMER_REAL, max(previous_delay - (time.monotonic() - start), 1e-3))


# ------------------------------------------------------------------------------------------ loading code


def is_path(source: str) -> bool:
    """Whether a graded ``source`` is a file path (``path/to/file.py``), not a dotted module name."""
    return source.endswith(".py") or Path(source).is_file()


def _import_path_or_module(spec: str) -> ModuleType:
    """Import a module from a file path (``path/to/file.py``) or a dotted name."""
    if is_path(spec):
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


def preload_references(chapters: list[str]) -> None:
    """Import the reference modules of ``chapters`` (slow: the package imports Lightning); a failure shows later,
    in the checks that need the missing reference."""
    for chapter in chapters:
        for target in REFERENCES[chapter].values():
            try:
                importlib.import_module(target.split(":")[0])
            except Exception:  # noqa: BLE001
                pass


def display_path(source: str) -> str:
    """``source`` as the learner would type it: relative to the current folder when it is below it."""
    if not is_path(source):
        return source
    path = Path(source).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def location_in(file: str | None, tb: TracebackType | None) -> str:
    """``at vae.py line 12: <code>`` for the deepest frame of ``tb`` inside ``file``, or ``""``."""
    if not file or tb is None:
        return ""
    target = Path(file).resolve()
    for frame in reversed(traceback.extract_tb(tb)):
        try:
            same = Path(frame.filename).resolve() == target
        except (OSError, ValueError):
            same = False
        if same:
            line = (frame.line or "").strip()
            return f"at {target.name} line {frame.lineno}" + (f": {line}" if line else "")
    return ""


def reads_stdin(err: BaseException) -> bool:
    """Whether ``err`` is what ``input()`` raises while grading (no terminal: end of file, or pytest's capture)."""
    return isinstance(err, EOFError) or (isinstance(err, OSError) and "stdin" in str(err))


TOP_LEVEL_HINT = ('code at the top level of a file runs when the grader imports it: move it into a function, or '
                  'under `if __name__ == "__main__":`')


def import_failure(source: str, err: BaseException, limit: float) -> str:
    """The expected/got/hint message for a graded file that could not be imported."""
    shown = display_path(source)
    file = str(Path(source).resolve()) if is_path(source) else None
    where = location_in(file, err.__traceback__)
    at = f" {where}" if where else ""
    expected = f"{shown} to import"
    if isinstance(err, ExerciseTimeout):
        return message(f"{expected} within {limit:g} s", f"still running after {limit:g} s{at}",
                       f"{TOP_LEVEL_HINT}; look for a loop that never ends.")
    if isinstance(err, SystemExit):
        return message(expected, f"SystemExit({err.code!r}){at}: the file ends the program when imported",
                       f"remove the exit(), quit() or sys.exit() call: {TOP_LEVEL_HINT}.")
    if reads_stdin(err):
        return message(expected, f"input(){at}: nobody types while grading", f"remove it: {TOP_LEVEL_HINT}.")
    got = f"{type(err).__name__}: {err}{at}"
    if isinstance(err, SyntaxError):
        got = f"{type(err).__name__}: {err.msg} (line {err.lineno}" + (
            f": {err.text.strip()}" if err.text and err.text.strip() else "") + ")"
    return message(expected, got, f"fix that error first (run `python {shown}` to see it in full).")


class Implementation:
    """The functions a run grades for one chapter: the learner's stubs, the references, or any module.

    :meth:`preload` imports the module once, before the checks, within the time limit; if that fails,
    ``import_error`` holds the message, reported once for the whole chapter. Attribute access gives the
    graded functions; a missing one fails the checks that need it with a readable message.
    """

    def __init__(self, chapter: str, source: str) -> None:
        self.chapter = chapter
        self.source = source  # "solutions", or a module name / file path
        self._module: ModuleType | None = None
        self.import_error: str | None = None  # why the import failed, for the learner

    @property
    def file(self) -> str | None:
        """The graded module's file, used to point at the learner's line when their code crashes."""
        if self.source == "solutions":
            return None
        if self._module is not None:
            return getattr(self._module, "__file__", None)
        if is_path(self.source):
            return str(Path(self.source).resolve())
        return None

    def describe(self) -> str:
        """Where the graded code comes from, for the report header."""
        return "package reference solutions" if self.source == "solutions" else self.source

    def preload(self, limit: float = 0.0) -> str | None:
        """Import the graded code now, within ``limit`` seconds where :func:`time_limit` works.

        Returns ``None``, or the message saying why the import failed (also kept in ``import_error``): a syntax
        error, an exception, ``exit()``, ``input()`` or a loop at the top level of the file.
        """
        if self._module is not None or self.import_error is not None:
            return self.import_error
        if self.source == "solutions":
            return None  # trusted, and loaded when a check needs it
        try:
            with time_limit(limit):
                self._module = _import_path_or_module(self.source)
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # noqa: BLE001 - SystemExit and the time limit included: all are the file's
            self.import_error = import_failure(self.source, err, limit)
        return self.import_error

    def _load(self) -> ModuleType:
        if self._module is None:
            self.preload()
        if self.import_error is not None:
            raise ExerciseFailure(self.import_error)
        assert self._module is not None
        return self._module

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        if self.source == "solutions":
            try:
                return load_reference(self.chapter, name)
            except (ImportError, AttributeError, KeyError) as err:
                raise ExerciseFailure(message(f"the package to provide the reference `{name}`",
                                              f"{type(err).__name__}: {err}",
                                              "update the fundamentalml package (pip install -e .).")) from None
        module = self._load()
        if not hasattr(module, name):
            raise ExerciseFailure(message(f"a function `{name}` in {display_path(self.source)}", "no such name",
                                          "keep the function names and signatures of the exercise file."))
        return getattr(module, name)


def default_source(chapter: str, folder: Path) -> str:
    """The learner's module for ``chapter`` in the learner's ``folder``: ``exercises/<chapter>.py`` in a clone."""
    return str(Path(folder) / f"{chapter}.py")

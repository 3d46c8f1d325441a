"""Code on the page: the package's own source, shown where a chapter explains it, and the shapes it computes.

A chapter never pastes model code. It calls :func:`show_source` on the function or class it explains, which
reads the package's current source at build time (so the page cannot drift from the code that ran) and renders
it highlighted, with its file and line numbers, the same way on the website and in the ``.ipynb`` twins on
Colab, Kaggle and Binder. :func:`shape_walk` runs a real batch through a model's layers and lists the tensor
shape after each one, so a walk-through's shapes are computed, not typed.

Nothing here trains; the layers sit beside ``plots`` and ``widgets`` (what a reader sees).
"""

from __future__ import annotations

import html
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from .tables import markdown_table

PACKAGE_ROOT = Path(__file__).resolve().parent  # .../fundamentalml
_STYLE = "friendly"  # a light Pygments style with enough contrast on its own background (set below)
_BACKGROUND = "#f8f8f8"
_FOREGROUND = "#1f1f1f"


class SourceNotFound(LookupError):
    """A chapter asked to show an object that is not (or no longer) where it said, or has no Python source."""


# ------------------------------------------------------------------------------------------ resolving


def resolve(target: Any) -> Any:
    """The object ``target`` names: the object itself, or a ``"package.module:Qual.name"`` string.

    Raises:
        SourceNotFound: the module or the attribute does not exist (renamed or moved), with what to do.
    """
    if not isinstance(target, str):
        return target
    module_name, sep, qualname = target.partition(":")
    if not sep or not module_name or not qualname:
        raise SourceNotFound(f"{target!r}: name a shown object as 'package.module:Qual.name', e.g. "
                             f"'fundamentalml.models.vae:reparameterize'.")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise SourceNotFound(f"{target!r}: no module {module_name!r} ({exc}); was it moved or renamed?") from None
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise SourceNotFound(f"{target!r}: {module_name} has no {qualname!r} (no {part!r}); was it renamed or "
                                 f"moved? Update the chapter's show_source call.")
        obj = getattr(obj, part)
    return obj


def _qualified_name(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or ""
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", repr(obj))
    return f"{module}.{qualname}" if module else qualname


# ------------------------------------------------------------------------------------------ the listing


@dataclass(frozen=True)
class SourceListing:
    """The source of one function, method or class, as it is in the package now.

    Attributes:
        name: the object's dotted name (``fundamentalml.models.vae.reparameterize``).
        path: its file, relative to the folder holding the package (``fundamentalml/models/vae.py``).
        first_line, last_line: where the listing sits in that file (1-based, inclusive).
        code: the source lines themselves.
    """

    name: str
    path: str
    first_line: int
    last_line: int
    code: str

    @property
    def caption(self) -> str:
        """``fundamentalml/models/vae.py, lines 28–35``: where a reader finds this code."""
        return f"{self.path}, lines {self.first_line}\u2013{self.last_line}"

    def __str__(self) -> str:
        width = len(str(self.last_line))
        numbered = [f"{n:>{width}}  {line}" for n, line in enumerate(self.code.splitlines(), start=self.first_line)]
        return f"# {self.caption}\n" + "\n".join(numbered)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython's plain-text view
        printer.text(str(self))

    def _repr_html_(self) -> str:
        """Highlighted source with line numbers and a caption; inline styles, so it looks the same in JupyterLab,
        Colab, Kaggle and on the website (no stylesheet needed) and keeps its own light background in dark mode."""
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        formatter = HtmlFormatter(
            style=_STYLE, noclasses=True, linenos="inline", linenostart=self.first_line, nobackground=True,
            prestyles=f"margin:0; padding:0.5em 0.75em; line-height:1.35; background:{_BACKGROUND}; "
                      f"color:{_FOREGROUND}; overflow-x:auto;",
        )
        body = highlight(self.code, PythonLexer(), formatter)
        caption = html.escape(self.caption)
        name = html.escape(self.name)
        return (
            f'<figure class="fml-source" style="margin:0.5em 0 1em 0; border:1px solid #c8c8c8; border-radius:4px; '
            f'overflow:hidden;" aria-label="source of {name}">'
            f'<figcaption style="font-size:0.85em; padding:0.25em 0.75em; background:#e9ecef; color:#1f1f1f;">'
            f"<code style=\"background:none; color:inherit;\">{name}</code> &middot; {caption}</figcaption>"
            f"{body}</figure>"
        )


def show_source(target: Any, *, start: str | None = None, end: str | None = None) -> SourceListing:
    """The package's current source of ``target`` (a function, method or class, or ``"module:Qual.name"``).

    ``start`` and ``end`` cut the listing to the lines from the first one containing ``start`` to the first one
    after it containing ``end`` (both included): the part of a long function a section explains. Line numbers
    stay those of the file. Decorated functions are shown with their decorators.

    Raises:
        SourceNotFound: ``target`` cannot be found, is not the package's own code, or a marker is missing.
    """
    obj = resolve(target)
    func = inspect.unwrap(obj) if callable(obj) else obj
    try:
        file = inspect.getsourcefile(func)
        lines, first = inspect.getsourcelines(func)
    except (TypeError, OSError) as exc:
        raise SourceNotFound(f"{_qualified_name(obj)} has no Python source to show ({exc}).") from None
    if file is None:
        raise SourceNotFound(f"{_qualified_name(obj)} has no source file.")
    path = Path(file).resolve()
    if not path.is_relative_to(PACKAGE_ROOT):
        raise SourceNotFound(f"{_qualified_name(obj)} lives in {path}, outside the fundamentalml package: a chapter "
                             f"shows the course's own code only.")
    shown_path = f"{PACKAGE_ROOT.name}/{path.relative_to(PACKAGE_ROOT).as_posix()}"
    first = max(first, 1)
    lo, hi = 0, len(lines) - 1
    if start is not None:
        lo = _find(lines, start, 0, obj)
    if end is not None:
        hi = _find(lines, end, lo, obj)
    chosen = lines[lo:hi + 1]
    indent = min((len(s) - len(s.lstrip()) for s in chosen if s.strip()), default=0)
    code = "".join(s[indent:] if s.strip() else "\n" for s in chosen).rstrip("\n")
    return SourceListing(_qualified_name(obj), shown_path, first + lo, first + hi, code)


def _find(lines: Sequence[str], marker: str, after: int, obj: Any) -> int:
    for i in range(after, len(lines)):
        if marker in lines[i]:
            return i
    raise SourceNotFound(f"{_qualified_name(obj)}: no line containing {marker!r} (the code changed?); update the "
                         f"chapter's show_source call.")


# ------------------------------------------------------------------------------------------ shapes


@dataclass(frozen=True)
class ShapeStep:
    """One layer of a walk-through: its name, what it is, the shape it returns and its trainable parameters."""

    name: str
    layer: str
    shape: tuple[int, ...]
    parameters: int


def shape_walk(module: nn.Module, *inputs: torch.Tensor, prefix: str = "",
               input_is: str = "a real batch") -> list[ShapeStep]:
    """Run ``inputs`` through ``module`` and record each leaf layer's output shape, in the order they ran.

    The first row is the (first) input itself, described by ``input_is``. Nothing is trained; the module's
    train/eval mode is kept and gradients are off. Layers that run twice appear twice.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"shape_walk takes an nn.Module, got {type(module).__name__}.")
    if not inputs or not all(isinstance(x, torch.Tensor) for x in inputs):
        raise TypeError("shape_walk needs at least one input tensor (a real batch).")
    steps = [ShapeStep(prefix + "input", input_is, tuple(inputs[0].shape), 0)]
    hooks = []

    def record(name: str) -> Callable[..., None]:
        def hook(layer: nn.Module, args: Any, output: Any) -> None:
            out = output[0] if isinstance(output, (tuple, list)) else output
            if isinstance(out, torch.Tensor):
                params = sum(p.numel() for p in layer.parameters(recurse=False) if p.requires_grad)
                steps.append(ShapeStep(prefix + name, _describe(layer), tuple(out.shape), params))
        return hook

    for name, layer in module.named_modules():
        if name and not any(True for _ in layer.children()):
            hooks.append(layer.register_forward_hook(record(name)))
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return steps


def _describe(layer: nn.Module) -> str:
    extra = layer.extra_repr()
    return f"{type(layer).__name__}({extra})" if extra else type(layer).__name__


def shape_table(steps: Sequence[ShapeStep], notes: dict[str, str] | None = None) -> str:
    """A Markdown table of a walk-through: layer, output shape (batch first), trainable parameters, and a note
    per layer name where ``notes`` has one (why the line is there)."""
    if not steps:
        raise ValueError("shape_table needs at least one step (see shape_walk).")
    notes = notes or {}
    unknown = set(notes) - {s.name for s in steps}
    if unknown:
        raise KeyError(f"notes for layers that did not run: {sorted(unknown)}; names are {[s.name for s in steps]}.")
    has_notes = bool(notes)
    rows = []
    for i, s in enumerate(steps):
        shape = "(" + ", ".join(str(d) for d in s.shape) + ")"
        what = s.layer if i == 0 else f"`{s.layer}`"  # the first row is the input, described in words
        rows.append([f"`{s.name}`", what, shape, f"{s.parameters:,}"] + ([notes.get(s.name, "")] if has_notes else []))
    header = ["layer", "what", "output shape", "parameters"] + (["why"] if has_notes else [])
    return markdown_table(header, rows, "lllr" + ("l" if has_notes else ""))

"""Alt text for every figure: what it shows, written from the figure itself when it is drawn.

A figure of :mod:`fundamentalml.plots` (or any matplotlib figure a chapter draws) is described from what is in
it: its titles, each panel's axis labels, the curves with their first, last and extreme values, scatter and
bar counts, legends and image panels. A plot function may set a description of its own with
:func:`set_alt_text`; it is used instead.

:func:`describe_figures` (the chapters' set-up cell calls it) makes IPython draw every figure with its
description embedded in the PNG (the standard ``Description`` text chunk) and in the output's metadata
(``{"image/png": {"alt": ...}}``). The book's extension (``book/_ext/fml_book.py``, ``png_description``) reads
the PNG's chunk and puts it into the page's ``<img alt="...">``, so the description travels with the image itself and nothing is
typed per cell.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

ALT_ATTRIBUTE = "fml_alt_text"  # where set_alt_text keeps a plot function's own description
PNG_KEY = "Description"  # the PNG text chunk that carries it (a key the PNG specification defines)
MAX_CHARS = 900  # screen readers read all of it: keep it to a paragraph
MAX_LINES = 6  # curves described per panel, the rest counted


def set_alt_text(fig: Any, text: str) -> Any:
    """Give ``fig`` its own description (used instead of the generated one); returns ``fig``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("Alt text must be a non-empty string saying what the figure shows.")
    setattr(fig, ALT_ATTRIBUTE, " ".join(text.split()))
    return fig


def _num(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:.4g}"


def _label(text: str | None) -> str:
    return " ".join((text or "").split())


def _public(label: str) -> bool:
    return bool(label) and not label.startswith("_")


def _describe_lines(ax) -> list[str]:
    lines = [ln for ln in ax.get_lines() if ln.get_visible()]
    if not lines:
        return []
    xlabel, ylabel = _label(ax.get_xlabel()), _label(ax.get_ylabel())
    what = f"{ylabel or 'values'} against {xlabel or 'x'}"
    parts = []
    for ln in lines[:MAX_LINES]:
        x = np.asarray(ln.get_xdata(), dtype=float).ravel()
        y = np.asarray(ln.get_ydata(), dtype=float).ravel()
        keep = np.isfinite(x) & np.isfinite(y) if x.shape == y.shape else np.isfinite(y)
        if x.shape != y.shape:
            x = np.arange(len(y), dtype=float)
        x, y = x[keep], y[keep]
        name = _label(ln.get_label()) if _public(ln.get_label()) else "a line"
        if len(y) == 0:
            continue
        if len(y) <= 2 and (len(set(np.round(y, 12))) == 1 or len(set(np.round(x, 12))) == 1):
            ref = f"at {_num(y[0])}" if len(set(np.round(y, 12))) == 1 else f"at {xlabel or 'x'} {_num(x[0])}"
            parts.append(f"{name}: a reference line {ref}")
            continue
        lo, hi = int(np.argmin(y)), int(np.argmax(y))
        text = f"{name}: {len(y)} points, from {_num(y[0])} at {_num(x[0])} to {_num(y[-1])} at {_num(x[-1])}"
        if lo not in (0, len(y) - 1):
            text += f", lowest {_num(y[lo])} at {_num(x[lo])}"
        if hi not in (0, len(y) - 1):
            text += f", highest {_num(y[hi])} at {_num(x[hi])}"
        parts.append(text)
    more = len(lines) - MAX_LINES
    if more > 0:
        parts.append(f"and {more} more line(s)")
    return [f"line plot of {what}: " + "; ".join(parts)] if parts else []


def _describe_collections(ax) -> list[str]:
    groups = []
    for coll in ax.collections:
        offsets = coll.get_offsets()
        n = len(offsets) if offsets is not None else 0
        if coll.get_visible() and n > 1 and type(coll).__name__ == "PathCollection":
            groups.append((_label(coll.get_label()), n))
    if not groups:
        return []
    axes = f", {_label(ax.get_ylabel())} against {_label(ax.get_xlabel())}" if ax.get_xlabel() else ""
    total = sum(n for _, n in groups)
    if len(groups) == 1:
        label = groups[0][0]
        return [f"scatter of {total:,} points" + (f" ({label})" if _public(label) else "") + axes]
    named = ", ".join(f"{label}: {n:,}" for label, n in groups if _public(label))
    return [f"scatter of {total:,} points in {len(groups)} groups" + (f" ({named})" if named else "") + axes]


def _describe_bars(ax) -> list[str]:
    out = []
    for container in getattr(ax, "containers", []):
        patches = list(getattr(container, "patches", []))
        if not patches:
            continue
        label = _label(container.get_label())
        heights = [p.get_height() for p in patches]
        shown = ", ".join(_num(h) for h in heights[:10]) + (", ..." if len(heights) > 10 else "")
        out.append(f"{len(patches)} bars" + (f" ({label})" if _public(label) else "") + f" of heights {shown}")
    return out


def _describe_images(ax) -> list[str]:
    out = []
    for im in ax.get_images():
        arr = np.asarray(im.get_array())
        if arr.ndim < 2:
            continue
        kind = "colour image" if arr.ndim == 3 and arr.shape[-1] in (3, 4) else "grey-scale image"
        if kind == "grey-scale image" and im.get_cmap() is not None and im.get_cmap().name not in ("gray", "Greys", "gray_r", "Greys_r"):
            values = np.asarray(arr, dtype=float)
            kind = (f"heat map ({im.get_cmap().name} colour scale) of values from {_num(np.nanmin(values))} to "
                    f"{_num(np.nanmax(values))}")
            if values.shape[0] == values.shape[1] and values.shape[0] <= 32:
                kind += f", diagonal mean {_num(float(np.nanmean(np.diag(values))))}"
        out.append(f"a {arr.shape[1]}×{arr.shape[0]} {kind}")
    return out


def _describe_axes(ax, index: int, total: int) -> str:
    title = _label(ax.get_title()) or _label(ax.get_title("left"))
    parts = _describe_images(ax) + _describe_lines(ax) + _describe_collections(ax) + _describe_bars(ax)
    if not parts:
        labels = [t for t in (_label(ax.get_xlabel()), _label(ax.get_ylabel())) if t]
        if not (title or labels):
            return ""
        parts = ["axes " + " and ".join(labels)] if labels else []
    legend = ax.get_legend()
    if legend is not None and not any(_label(t.get_text()) in " ".join(parts) for t in legend.get_texts()):
        parts.append("legend: " + ", ".join(_label(t.get_text()) for t in legend.get_texts()))
    head = f"Panel {index}" + (f" '{title}'" if title else "") if total > 1 else (f"'{title}'" if title else "")
    return (head + ": " if head else "") + "; ".join(parts)


def describe_figure(fig: Any) -> str:
    """What ``fig`` shows, in a paragraph: its own alt text when a plot function set one, else written from
    its titles, panels, curves (first, last and extreme values), scatters, bars, legends and images."""
    own = getattr(fig, ALT_ATTRIBUTE, None)
    if own:
        return own
    axes = [ax for ax in fig.get_axes() if ax.get_visible() and ax.get_label() != "<colorbar>"]
    suptitle = _label(fig._suptitle.get_text()) if getattr(fig, "_suptitle", None) is not None else ""
    image_only = bool(axes) and all(ax.get_images() and not ax.get_lines() for ax in axes)
    head = "Figure" + (f" '{suptitle}'" if suptitle else "")
    if len(axes) > 1:
        head += f" with {len(axes)} panels" + (" of images" if image_only else "")
    kinds = {"; ".join(_describe_images(ax)) for ax in axes} if image_only else set()
    if image_only and len(axes) > 4 and len(kinds) == 1:
        # a grid of small images (a walk, a strip): one description for all, and the panels' own titles
        titles = [f"{i + 1}: '{_label(ax.get_title())}'" for i, ax in enumerate(axes) if _label(ax.get_title())]
        rows = len({round(ax.get_position().y0, 3) for ax in axes})
        row_labels = [_label(ax.get_ylabel()) for ax in axes if _label(ax.get_ylabel())]
        panels = [f"{rows} row(s) of {len(axes) // max(rows, 1)}, each {kinds.pop()}"
                  + (f"; rows labelled {', '.join(repr(r) for r in row_labels)}" if row_labels else "")
                  + (f"; titled panels {', '.join(titles)}" if titles else "")]
    else:
        panels = [p for p in (_describe_axes(ax, i + 1, len(axes)) for i, ax in enumerate(axes)) if p]
    text = head + ". " + ". ".join(panels) + ("." if panels else "")
    text = " ".join(text.split())
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return text


def figure_png(fig: Any) -> tuple[str, dict[str, str]] | None:
    """``fig`` as IPython's inline backend draws it (PNG, base64), with its description in a ``Description``
    text chunk, and the output metadata ``{"alt": description}``; ``None`` for an empty figure."""
    from IPython.core.pylabtools import print_figure

    alt = describe_figure(fig)
    data = print_figure(fig, fmt="png", bbox_inches="tight", base64=True, metadata={PNG_KEY: alt})
    if data is None:
        return None
    return data, {"alt": alt}


def describe_figures(shell: Any | None = None) -> bool:
    """Make IPython draw every matplotlib figure with its alt text (see the module docstring).

    Call it once in a notebook (the chapters' set-up cell does). Returns ``False`` outside IPython, where
    nothing is drawn inline.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    # pyplot loads its backend only when a figure is first made; the inline backend then registers its own PNG
    # formatter over this one. Load it now (no figure exists yet, so switching to the same backend closes none).
    plt.switch_backend(matplotlib.get_backend())

    shell.display_formatter.formatters["image/png"].for_type(Figure, figure_png)
    return True

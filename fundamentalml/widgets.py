"""Interactive widgets for the chapters, each with a static stand-in for pages where no kernel runs.

A chapter displays a widget object (for example the one :func:`interpolation_widget` returns). Its display
carries two representations:

* the live ipywidgets view (``application/vnd.jupyter.widget-view+json``), which Jupyter, JupyterLab,
  Binder, VS Code and Colab (with its custom widget manager on) render and drive through the kernel;
* a self-contained HTML stand-in (``text/html``): pre-rendered frames, a range slider and model buttons,
  driven by a few lines of inline JavaScript. The static book renders this one (``_config.yml`` ranks
  ``text/html`` above the widget view), so a reader without a kernel still moves through the same pictures.

A third representation rides inside the HTML: a hidden live panel (:func:`live_panel_html`) that the book's
pages show and drive with ONNX Runtime Web (``book/_static/fml-live.js``), running the same shipped decoders,
exported to ONNX at build time (:mod:`fundamentalml.export`), in the reader's browser. Where no script runs
(Jupyter's HTML view, a page with scripts off) it stays hidden and the stand-in is what shows.

Every live widget keeps its controls as attributes (``.model``, ``.start``, ``.end``, ``.mix``...), so tests
and readers drive it from Python exactly as a click would: ``w.mix.value = 0.5`` then look at
``w.current()``. Nothing here trains, and nothing imports :mod:`fundamentalml.training`.

To add a widget (the lead's class-selection widget, say): subclass :class:`LiveWidget`, build ``self.box``
from ipywidgets, and implement :meth:`LiveWidget.standin` with :func:`frames_standin`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
from typing import Any, Mapping, Protocol, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image

from .models.base import eval_mode
from .models.latent import interpolate_latents
from .plots import ValueRange, make_grid, to_numpy_images

STANDIN_CLASS = "fml-standin"
_counter = itertools.count()


# --------------------------------------------------------------------------------------------- images


def image_png(image: Any, scale: int = 4, value_range: ValueRange = (0.0, 1.0)) -> bytes:
    """Encode one image (or a batch, tiled as a grid) as PNG bytes, enlarged ``scale`` times without blurring."""
    arr = to_numpy_images(image, value_range)
    arr = arr[0] if len(arr) == 1 else make_grid(arr, ncols=len(arr) if len(arr) <= 10 else 10)
    pixels = (arr * 255).round().astype(np.uint8)
    img = Image.fromarray(pixels, mode="L" if pixels.ndim == 2 else "RGB")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# --------------------------------------------------------------------------------------------- stand-in


class StaticStandin:
    """What a page without a kernel shows in a widget's place: self-contained HTML (images inlined).

    Attributes:
        html: the markup; displays as ``text/html`` in Jupyter and in the static book.
        frames: how many pre-rendered frames each choice has.
        choices: the labels of the choice buttons.
    """

    def __init__(self, html_text: str, choices: Sequence[str], frames: int) -> None:
        self.html, self.choices, self.frames = html_text, list(choices), frames

    def _repr_html_(self) -> str:
        return self.html


# Inline handler (no <script> element, no global names): show the frame that matches the checked choice
# and the slider position, and print that position's label.
_HANDLER = (
    "var r=this,c=r.querySelector('input[type=radio]:checked'),s=r.querySelector('input[type=range]');"
    "if(!s)return;var k=(c?c.value:'0')+'/'+s.value;"
    "r.querySelectorAll('img[data-key]').forEach(function(i){i.style.display=i.dataset.key===k?'':'none';});"
    "var t=JSON.parse(r.dataset.ticks||'[]');var o=r.querySelector('output');if(o)o.textContent=t[s.value]||s.value;"
)


def frames_standin(
    frames: Mapping[str, Sequence[Any]],
    *,
    title: str,
    slider_label: str,
    ticks: Sequence[str] | None = None,
    choice_label: str = "model",
    start: int = 0,
    scale: int = 4,
    value_range: ValueRange = (0.0, 1.0),
    kind: str = "frames",
) -> StaticStandin:
    """Build the static stand-in: one button per choice, a range slider over pre-rendered frames.

    Args:
        frames: ``{choice label: [frame_0, frame_1, ...]}``; every choice has the same number of frames.
            A frame is one image or a batch of images (drawn as a grid).
        title: a line above the controls saying what the reader is looking at.
        slider_label: what the slider moves through (``"mix"``, ``"digit"``...).
        ticks: a label per frame position (default: the position number).
        choice_label: what the buttons choose between.
        start: the frame shown first.
        scale, value_range: as in :func:`image_png`.
        kind: a name written to ``data-standin`` so tests and styles can find this stand-in.
    """
    if not frames:
        raise ValueError("frames_standin needs at least one choice.")
    counts = {len(v) for v in frames.values()}
    if len(counts) != 1 or 0 in counts:
        raise ValueError(f"every choice needs the same, non-zero number of frames, got {sorted(counts)}.")
    n = counts.pop()
    ticks = [str(t) for t in ticks] if ticks is not None else [str(i) for i in range(n)]
    if len(ticks) != n:
        raise ValueError(f"ticks needs one label per frame ({n}), got {len(ticks)}.")
    start = min(max(0, start), n - 1)
    images, digest = [], hashlib.sha256()
    for c, (label, seq) in enumerate(frames.items()):
        for f, frame in enumerate(seq):
            uri = _data_uri(image_png(frame, scale=scale, value_range=value_range))
            digest.update(uri.encode())
            shown = "" if (c == 0 and f == start) else ' style="display:none"'
            alt = html.escape(f"{label}, {slider_label} {ticks[f]}", quote=True)
            images.append(f'<img data-key="{c}/{f}" src="{uri}" alt="{alt}"{shown}>')
    # A name unique on the page, stable for the same content (so re-executing gives the same output).
    group = f"fml-{digest.hexdigest()[:10]}-{next(_counter)}"
    radios = "".join(
        f'<label style="margin-right:0.8em"><input type="radio" name="{group}" value="{i}"{" checked" if i == 0 else ""}> '
        f"{html.escape(label)}</label>"
        for i, label in enumerate(frames)
    )
    ticks_attr = html.escape(json.dumps(ticks), quote=True)
    markup = (
        f'<div class="{STANDIN_CLASS}" data-standin="{html.escape(kind)}" data-ticks="{ticks_attr}" '
        f'oninput="{html.escape(_HANDLER, quote=True)}" onchange="{html.escape(_HANDLER, quote=True)}" '
        f'style="border:1px solid #ccc;border-radius:6px;padding:0.6em 0.8em;margin:0.5em 0;display:inline-block">'
        f'<div style="font-weight:600;margin-bottom:0.3em">{html.escape(title)}</div>'
        f'<div role="radiogroup" aria-label="{html.escape(choice_label)}">{html.escape(choice_label)}: {radios}</div>'
        f'<div class="fml-standin-frames" style="margin:0.4em 0">{"".join(images)}</div>'
        f'<label>{html.escape(slider_label)} <input type="range" min="0" max="{n - 1}" step="1" value="{start}" '
        f'aria-label="{html.escape(slider_label)}" style="vertical-align:middle;width:14em"> '
        f"<output>{html.escape(ticks[start])}</output></label>"
        f'<div style="font-size:0.8em;color:var(--pst-color-text-muted,#666);margin-top:0.3em">Pre-rendered when the page was built; '
        f"open the notebook (rocket menu above) for the live widget.</div></div>"
    )
    return StaticStandin(markup, list(frames), n)


# --------------------------------------------------------------------------------------------- live panel


LIVE_CLASS = "fml-live"
LIVE_MODES = ("latent", "conditional")


def live_names(models: Mapping[str, Any]) -> list[dict[str, str]]:
    """``[{"name": registry name, "title": label}]`` of the models the book exports (those with ``live_decode``);
    models of other classes (a test's stand-in model, say) are left out."""
    from .registry import spec_of

    found = []
    for title, model in models.items():
        if not callable(getattr(model, "live_decode", None)):
            continue
        try:
            found.append({"name": spec_of(model).name, "title": str(title)})
        except ValueError:
            continue
    return found


def live_panel_html(
    models: Mapping[str, Any],
    *,
    mode: str = "latent",
    ends: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    digit: int = 0,
    n: int = 8,
    title: str | None = None,
) -> str:
    """The markup of a live panel, hidden until the book's ``fml-live.js`` shows it ("" without exportable models).

    Args:
        models: ``{label: model}``; the panel offers those with an exported decoder (see :func:`live_names`).
        mode: ``"latent"`` (new samples, and a slider between two codes) or ``"conditional"`` (new samples of
            a chosen digit).
        ends: ``{label: (code_a, code_b)}``, the codes the latent slider starts between (default: random codes).
        digit: the digit chosen first (conditional mode); n: samples per click.
        title: the summary line.
    """
    if mode not in LIVE_MODES:
        raise ValueError(f"mode must be one of {LIVE_MODES}, got {mode!r}.")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 32:
        raise ValueError(f"n must be an int from 1 to 32, got {n!r}.")
    names = live_names(models)
    if not names:
        return ""
    by_title = {m["title"]: m["name"] for m in names}
    codes = {
        by_title[label]: [[round(float(v), 6) for v in code.flatten()] for code in pair]
        for label, pair in (ends or {}).items() if label in by_title
    }
    if title is None:
        what = "new samples of the digit you pick, from the model you pick" if mode == "conditional" else "sample new images and slide between two codes"
        title = f"Live in your browser: {what}"
    attrs = {
        "class": LIVE_CLASS, "data-mode": mode, "data-models": json.dumps(names), "data-n": str(n),
        "data-digit": str(int(digit)), "data-ends": json.dumps(codes, separators=(",", ":")),
    }
    rendered = " ".join(f'{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
    return (
        f'<details {rendered} hidden style="display:none">'
        f"<summary>{html.escape(title)}<span class=\"fml-live-size\"></span></summary>"
        f'<div class="fml-live-body"></div></details>'
    )


class LivePanel:
    """A live panel on its own (for a chapter with no kernel widget): displays as :func:`live_panel_html`'s markup."""

    def __init__(self, markup: str) -> None:
        self.html = markup

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/html": self.html, "text/plain": "(a live panel: it runs on the book's website, in the browser)"}


def live_panel(models: Mapping[str, Any], **kwargs: Any) -> LivePanel:
    """Display a live panel for ``models`` (``{label: model}``); ``kwargs`` as in :func:`live_panel_html`."""
    return LivePanel(live_panel_html(models, **kwargs))


# --------------------------------------------------------------------------------------------- live widgets


class LiveWidget:
    """Base of the chapters' widgets: a live ipywidgets view plus a static stand-in in one display.

    Subclasses set ``self.box`` (the ipywidgets container) and implement :meth:`standin`.
    """

    box: widgets.Widget

    def standin(self) -> StaticStandin:  # pragma: no cover - abstract
        """The static stand-in for this widget's current state."""
        raise NotImplementedError

    def live_html(self) -> str:
        """The live panel shown above the stand-in on the book's pages ("" for none)."""
        return ""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.box._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self.live_html() + self.standin().html
        return bundle


class LatentModel(Protocol):
    """What the interpolation widget needs from a model: an encoder to means and a decoder to images."""

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...  # noqa: D102

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...  # noqa: D102


def _inference(model: LatentModel) -> Any:
    """:func:`~fundamentalml.models.base.eval_mode` for a torch model (its mode restored after); for any other
    object with ``encode``/``decode``, only no gradients."""
    return eval_mode(model) if isinstance(model, torch.nn.Module) else torch.no_grad()


class InterpolationWidget(LiveWidget):
    """Walk through a model's latent space between the codes of two test digits.

    Controls (plain ipywidgets, set ``.value`` to drive them from Python):
        model: ``ToggleButtons`` choosing which model decodes.
        start, end: ``Dropdown`` of candidate test images (value: index into ``images``).
        mix: ``FloatSlider`` in [0, 1]; 0 decodes the start code, 1 the end code.
        method: ``ToggleButtons``, ``"linear"`` or ``"slerp"``.
    Views:
        image: ``Image`` of the decoded mix (PNG); ``ends``: the two real images.

    Use :meth:`current` for the decoded image as a tensor and :meth:`latent` for the code behind it.
    """

    def __init__(
        self,
        models: Mapping[str, LatentModel],
        images: torch.Tensor,
        labels: Sequence[int] | torch.Tensor | None = None,
        *,
        candidates: Sequence[int] | None = None,
        start: int | None = None,
        end: int | None = None,
        steps: int = 11,
        method: str = "linear",
        scale: int = 4,
    ) -> None:
        if not models:
            raise ValueError("interpolation_widget needs at least one model.")
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise ValueError("images must be a tensor (N, C, H, W), e.g. a batch of test digits.")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an int >= 2, got {steps!r}.")
        self.models = dict(models)
        self.images = images.detach().cpu()
        self.labels = [int(v) for v in labels] if labels is not None else None
        self.steps, self.scale = steps, scale
        idx = list(range(len(images))) if candidates is None else [int(i) for i in candidates]
        if len(idx) < 2 or min(idx) < 0 or max(idx) >= len(images):
            raise ValueError(f"candidates must hold at least two indices into images (0..{len(images) - 1}).")
        options = [(self._describe(i), i) for i in idx]
        start = idx[0] if start is None else start
        end = idx[1] if end is None else end

        self.model = widgets.ToggleButtons(options=list(self.models), description="model")
        self.start = widgets.Dropdown(options=options, value=start, description="from")
        self.end = widgets.Dropdown(options=options, value=end, description="to")
        self.mix = widgets.FloatSlider(
            value=0.5, min=0.0, max=1.0, step=1.0 / (steps - 1), description="mix", readout_format=".2f"
        )
        self.method = widgets.ToggleButtons(options=["linear", "slerp"], value=method, description="path")
        self.image = widgets.Image(format="png", layout=widgets.Layout(width=f"{28 * scale}px"))
        self.ends = widgets.Image(format="png", layout=widgets.Layout(width=f"{2 * 28 * scale}px"))
        self.box = widgets.VBox(
            [
                self.model,
                widgets.HBox([self.start, self.end]),
                self.method,
                self.mix,
                widgets.HBox([widgets.VBox([widgets.Label("decoded mix"), self.image]),
                              widgets.VBox([widgets.Label("the two real digits"), self.ends])]),
            ]
        )
        for control in (self.model, self.start, self.end, self.mix, self.method):
            control.observe(self._on_change, names="value")
        self.update()

    def _describe(self, i: int) -> str:
        return f"test #{i}" + (f" (a {self.labels[i]})" if self.labels is not None else "")

    def _on_change(self, _change: dict) -> None:
        self.update()

    def _codes(self, model: LatentModel) -> tuple[torch.Tensor, torch.Tensor]:
        device = next(model.parameters()).device if hasattr(model, "parameters") else torch.device("cpu")
        pair = torch.stack([self.images[self.start.value], self.images[self.end.value]]).to(device)
        with _inference(model):
            mu, _ = model.encode(pair)
        return mu[0], mu[1]

    @torch.no_grad()
    def latent(self) -> torch.Tensor:
        """The code at the current mix along the chosen path, shape ``(latent_dim,)``."""
        za, zb = self._codes(self.models[self.model.value])
        t = float(self.mix.value)
        if t <= 0.0:
            return za
        if t >= 1.0:
            return zb
        # Evaluate the package's own path at a fine resolution rather than re-deriving lerp/slerp here.
        path = interpolate_latents(za, zb, 201, self.method.value)
        return path[round(t * 200)]

    def current(self) -> torch.Tensor:
        """The image the widget shows: the current code decoded by the chosen model, ``(1, C, H, W)``."""
        model = self.models[self.model.value]
        z = self.latent().unsqueeze(0)
        with _inference(model):
            return model.decode(z).detach().cpu()

    def update(self) -> None:
        """Redraw the views from the controls (called on every change)."""
        self.image.value = image_png(self.current(), scale=self.scale)
        self.ends.value = image_png(
            torch.stack([self.images[self.start.value], self.images[self.end.value]]), scale=self.scale
        )

    def path(self, model_name: str | None = None) -> torch.Tensor:
        """``steps`` images decoded along the whole path for ``model_name`` (default: the chosen model)."""
        model = self.models[model_name or self.model.value]
        za, zb = self._codes(model)
        with _inference(model):
            return model.decode(interpolate_latents(za, zb, self.steps, self.method.value)).detach().cpu()

    def live_html(self) -> str:
        """A live panel for the same models, its slider starting between the codes of the chosen pair."""
        return live_panel_html(self.models, mode="latent", ends={name: self._codes(m) for name, m in self.models.items()})

    def standin(self) -> StaticStandin:
        """Pre-rendered frames of every model's path between the current pair, with a slider over the mix."""
        frames = {name: list(self.path(name)) for name in self.models}
        ticks = [f"{i / (self.steps - 1):.2f}" for i in range(self.steps)]
        title = f"Latent interpolation from {self._describe(self.start.value)} to {self._describe(self.end.value)}"
        return frames_standin(
            frames, title=title, slider_label="mix", ticks=ticks, start=self.steps // 2, scale=self.scale,
            kind="interpolation",
        )


def interpolation_widget(
    models: Mapping[str, LatentModel],
    images: torch.Tensor,
    labels: Sequence[int] | torch.Tensor | None = None,
    **kwargs: Any,
) -> InterpolationWidget:
    """Build the latent-interpolation widget: two chosen test digits, a mix slider, a model choice.

    Args:
        models: ``{"MLP VAE": model, "CNN VAE": model}``: anything with ``encode`` (to means) and ``decode``.
        images: candidate end points, ``(N, C, H, W)`` in the models' input range (test digits).
        labels: their classes, shown in the drop-downs.
        **kwargs: ``candidates`` (indices offered), ``start``/``end`` (initial indices), ``steps``
            (frames in the stand-in), ``method`` (``"linear"``/``"slerp"``), ``scale`` (pixel size).

    Display the result (last line of a cell); drive it with ``w.mix.value = 0.3``, ``w.model.value = "CNN VAE"``.
    """
    return InterpolationWidget(models, images, labels, **kwargs)


# --------------------------------------------------------------------------------------------- class selection


class ConditionalModel(Protocol):
    """What the class-selection widget needs: ``generate(class_label, n, seed)`` returning images in [0, 1]."""

    def generate(self, class_label: Any, n: int = 1, seed: int | None = None) -> torch.Tensor: ...  # noqa: D102


class ClassSelectionWidget(LiveWidget):
    """Ask a conditional model for a digit.

    Controls: ``digit`` (``ToggleButtons`` 0..9), ``n`` (``IntSlider``, images to draw), ``model``
    (``ToggleButtons``, e.g. cVAE or cGAN), ``seed`` (``IntText``: same seed, same images).
    View: ``image``, a grid of the generated digits. :meth:`current` returns them as a tensor.
    """

    def __init__(self, models: Mapping[str, ConditionalModel], *, digit: int = 0, n: int = 8, max_n: int = 32,
                 seed: int = 0, scale: int = 3, ncols: int = 8) -> None:
        if not models:
            raise ValueError("class_selection_widget needs at least one model.")
        if not 1 <= n <= max_n:
            raise ValueError(f"n must be between 1 and max_n={max_n}, got {n}.")
        self.models, self.scale, self.ncols = dict(models), scale, ncols
        self.model = widgets.ToggleButtons(options=list(self.models), description="model")
        self.digit = widgets.ToggleButtons(options=list(range(10)), value=digit, description="digit",
                                           style={"button_width": "2.2em"})
        self.n = widgets.IntSlider(value=n, min=1, max=max_n, description="samples")
        self.seed = widgets.IntText(value=seed, description="seed")
        self.image = widgets.Image(format="png")
        self.box = widgets.VBox([self.model, self.digit, widgets.HBox([self.n, self.seed]), self.image])
        for control in (self.model, self.digit, self.n, self.seed):
            control.observe(lambda _change: self.update(), names="value")
        self.update()

    @torch.no_grad()
    def current(self) -> torch.Tensor:
        """The images on show: ``n`` samples of the chosen digit from the chosen model, ``(n, 1, 28, 28)``."""
        model = self.models[self.model.value]
        return model.generate(int(self.digit.value), int(self.n.value), seed=int(self.seed.value)).detach().cpu()

    def update(self) -> None:
        """Redraw the grid from the controls (called on every change)."""
        self.image.value = image_png(make_grid(self.current(), ncols=self.ncols)[None], scale=self.scale)

    def live_html(self) -> str:
        """A live panel for the same models: new samples of the chosen digit on every click."""
        return live_panel_html(self.models, mode="conditional", digit=int(self.digit.value), n=int(self.n.value))

    def standin(self) -> StaticStandin:
        """Pre-rendered grids of every digit for every model, with a slider over the digit."""
        frames = {
            name: [m.generate(d, int(self.n.value), seed=int(self.seed.value)).detach().cpu() for d in range(10)]
            for name, m in self.models.items()
        }
        return frames_standin(
            frames, title=f"{self.n.value} generated samples of the chosen digit", slider_label="digit",
            ticks=[str(d) for d in range(10)], start=int(self.digit.value), scale=self.scale, kind="class-selection",
        )


def class_selection_widget(models: Mapping[str, ConditionalModel], **kwargs: Any) -> ClassSelectionWidget:
    """Build the class-selection widget: pick a digit, how many samples, and which conditional model draws them.

    Args:
        models: ``{"cVAE": cvae, "cGAN": cgan}``: anything with ``generate(class_label, n, seed)``.
        **kwargs: ``digit``, ``n``, ``max_n``, ``seed``, ``scale``, ``ncols``.

    Drive it from Python like a click: ``w.digit.value = 7``; ``w.current()`` returns the images shown.
    """
    return ClassSelectionWidget(models, **kwargs)


# --------------------------------------------------------------------------------------------- draw a digit


DRAW_MODES = ("draw", "draw-conditional")


def draw_panel_html(
    models: Mapping[str, Any],
    *,
    conditional: bool = False,
    warmup: bool = False,
    title: str | None = None,
    note: str | None = None,
) -> str:
    """The markup of a draw-a-digit panel, hidden until the book's ``fml-live.js`` shows it.

    The page preprocesses the reader's drawing as MNIST was (:mod:`fundamentalml.drawing`, twinned in the
    script), encodes it with each model's exported encoder to the posterior mean, and decodes that code: the
    reconstructions side by side with the ELBO's two terms (``conditional=False``), or, for a conditional model,
    the same code with each of the ten labels (``conditional=True``; the reader picks the label they drew).

    Args:
        models: ``{label: model}``; each needs an exported encoder (``encode`` besides ``live_decode``).
        conditional: one conditional model, decoded with all ten labels.
        warmup: also place the drawing on the VAE chapter's 2-D warm-up code plane (exported with the book).
        title: the summary line; note: a sentence shown in the panel above its controls.
    """
    from .export import has_encoder

    names = live_names(models)
    missing = [t for t, m in models.items() if not has_encoder(m)]
    if missing or not names:
        raise ValueError(f"a draw-a-digit panel needs models with an encoder (a VAE); {missing or list(models)} have none.")
    if conditional and (len(names) != 1 or "label" not in next(iter(models.values())).live_inputs(1)):
        raise ValueError("a conditional draw-a-digit panel takes exactly one conditional model (its decoder takes a label).")
    if title is None:
        title = ("Live in your browser: draw a digit, and see it as every digit" if conditional
                 else "Live in your browser: draw a digit and see what each VAE keeps of it")
    attrs = {"class": LIVE_CLASS, "data-mode": DRAW_MODES[int(bool(conditional))], "data-models": json.dumps(names),
             "data-warmup": "1" if warmup else "0"}
    rendered = " ".join(f'{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
    note_html = f'<div class="fml-draw-note">{html.escape(note)}</div>' if note else ""
    return (
        f'<details {rendered} hidden style="display:none">'
        f"<summary>{html.escape(title)}<span class=\"fml-live-size\"></span></summary>"
        f'<div class="fml-live-body">{note_html}</div></details>'
    )


class DrawPanel:
    """A draw-a-digit panel and its pre-rendered stand-in in one display (see :func:`draw_panel`).

    Attributes:
        html: the markup (the hidden live panel, then the stand-in).
        inputs: the test digits after the pad's preprocessing, ``(k, 1, 28, 28)``.
        outputs: ``{label: images}``: each model's reconstructions ``(k, 1, 28, 28)``, or, conditional, the ten
            decodes of each digit's code ``(k, 10, 1, 28, 28)``.
    """

    def __init__(self, markup: str, inputs: torch.Tensor, outputs: dict[str, torch.Tensor]) -> None:
        self.html, self.inputs, self.outputs = markup, inputs, outputs

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/html": self.html,
                "text/plain": "(a draw-a-digit panel: it runs on the book's website, in the browser; below, pre-rendered test digits)"}


def draw_panel(
    models: Mapping[str, Any],
    digits: torch.Tensor,
    labels: torch.Tensor | Sequence[int],
    *,
    conditional: bool = False,
    warmup: bool = False,
    title: str | None = None,
    note: str | None = None,
) -> DrawPanel:
    """A draw-a-digit panel for ``models`` with a stand-in pre-rendered from test ``digits``.

    The stand-in feeds each test digit (uint8 or [0, 1], ``(k, 1, 28, 28)``) through the pad's own path
    (:func:`fundamentalml.drawing.from_digit`, then :func:`~fundamentalml.drawing.preprocess`) and shows what the
    panel shows for it: each model's reconstruction from the posterior mean, or (``conditional``) the digit's
    code decoded with every label. Other arguments as in :func:`draw_panel_html`.
    """
    from . import drawing

    markup = draw_panel_html(models, conditional=conditional, warmup=warmup, title=title, note=note)
    labels = [int(v) for v in (labels.tolist() if isinstance(labels, torch.Tensor) else labels)]
    if len(labels) != len(digits) or not len(labels):
        raise ValueError(f"draw_panel needs one label per test digit, got {len(digits)} digits and {len(labels)} labels.")
    raw = digits.numpy() if isinstance(digits, torch.Tensor) else np.asarray(digits)
    inputs = torch.from_numpy(np.stack([drawing.preprocess(drawing.from_digit(d)) for d in raw]))[:, None]
    outputs: dict[str, torch.Tensor] = {}
    with eval_mode(*models.values()):
        for name, model in models.items():
            dev = next(model.parameters()).device
            if conditional:
                k = model.live_inputs(1)["label"].shape[1]
                mu, _ = model.encode(inputs.to(dev), torch.tensor(labels, device=dev))
                codes = mu.repeat_interleave(k, dim=0)
                eye = torch.eye(k, device=dev).repeat(len(labels), 1)
                outputs[name] = model.live_decode(codes, eye).cpu().reshape(len(labels), k, 1, 28, 28)
            else:
                mu, _ = model.encode(inputs.to(dev))
                outputs[name] = model.live_decode(mu).cpu()
    ticks = [f"test {d}" for d in labels]
    if conditional:
        name = next(iter(outputs))
        frames = {name: [torch.cat([inputs[i:i + 1], outputs[name][i]]) for i in range(len(labels))]}
        standin_title = "Pre-rendered: a test digit after the pad's preprocessing, then its code decoded as 0, 1, ... 9"
    else:
        frames = {name: [torch.cat([inputs[i:i + 1], out[i:i + 1]]) for i in range(len(labels))] for name, out in outputs.items()}
        standin_title = "Pre-rendered: a test digit after the pad's preprocessing, and the model's reconstruction from its μ"
    standin = frames_standin(frames, title=standin_title, slider_label="test digit", ticks=ticks, kind="draw", scale=3)
    # a stand-in of its own kind: the pages' widget count (class="fml-standin" per widget) leaves it out
    standin_html = standin.html.replace(f'class="{STANDIN_CLASS}"', f'class="{STANDIN_CLASS} fml-draw-standin"', 1)
    # there is no kernel widget to point to: the drawing runs only on the website
    standin_html = standin_html.replace(
        "open the notebook (rocket menu above) for the live widget.",
        "on the book's website the panel above takes your own drawing (it needs the browser: no kernel widget draws).", 1)
    return DrawPanel(markup + standin_html, inputs, outputs)

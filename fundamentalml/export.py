"""Export the shipped models' decoders, generators and encoders to ONNX, for the book's in-browser panels.

The book's pages run these files with ONNX Runtime Web (vendored under ``book/_vendor/onnxruntime-web``), so a
reader samples and interpolates without a kernel. Which models have a decoder to export, and what it takes, is
the model's own business: a model class with ``live_inputs(n)`` (example inputs by name) and ``live_decode(...)``
(images in [0, 1]) is exportable; nothing here branches on a model's name.

Each export writes ``<name>.onnx`` and returns a :class:`LiveExport` that says its inputs, output shape and size;
:func:`export_live` writes every exportable shipped model and a ``models.json`` manifest beside them. Run as
``python -m fundamentalml.export OUT_DIR [NAME ...]`` (the book's extension does, in a separate process, so the
build itself never imports torch).

The draw-a-digit panels also need the encoders: a model with an ``encode`` method besides ``live_decode`` gets
``<name>.encoder.onnx`` (inputs ``image`` ``(B, 1, 28, 28)`` in [0, 1], and ``label`` one-hot ``(B, 10)`` when
its decoder takes one; outputs ``mu`` and ``logvar``), recorded under the model's ``encoder`` key. A full export
(no names given) adds the VAE chapter's 2-D warm-up model (:data:`WARMUP`, the run that chapter trains, loaded
from the run cache or trained the same way): its encoder, the codes of every test digit (``warmup-codes.bin``)
and one test digit of each class for the panels' "load a test digit" buttons (``digits.bin``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import registry

OPSET = 17
MANIFEST = "models.json"
TOLERANCE = 1e-4  # largest pixel difference (pixels in [0, 1]) allowed between the ONNX file and torch


@dataclass
class LiveExport:
    """One exported decoder.

    Attributes:
        name: the registry name (``"vae-mlp"``); ``title``: what a page calls it.
        file: the ``.onnx`` file's name; ``bytes``: its size; ``sha256``: its digest.
        inputs: ``{input name: size of one row}`` (``{"z": 20}`` or ``{"z": 20, "label": 10}``); the batch axis
            comes first and is free.
        output: ``[C, H, W]`` of one image; pixels in [0, 1].
        weights_sha256: the digest of the shipped weights it came from (empty when exported from a model passed in).
    """

    name: str
    title: str
    file: str
    bytes: int
    sha256: str
    inputs: dict[str, int]
    output: list[int]
    weights_sha256: str = ""


def live_names() -> tuple[str, ...]:
    """The registry's models that have a decoder to export (``live_decode``), in registry order."""
    return tuple(n for n, spec in registry.MODELS.items() if callable(getattr(spec.model_class, "live_decode", None)))


class _Decoder(nn.Module):
    """The model's ``live_decode`` as a module with positional inputs (what the exporter traces)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.model.live_decode(*inputs)


def _check_live(name: str, model: Any) -> None:
    if not callable(getattr(model, "live_decode", None)) or not callable(getattr(model, "live_inputs", None)):
        raise ValueError(
            f"{name!r} has no decoder to export (no live_decode/live_inputs); exportable: {', '.join(live_names())}."
        )


def onnx_bytes(model: nn.Module) -> tuple[bytes, dict[str, int], list[int]]:
    """Export ``model.live_decode`` to ONNX in memory: ``(file bytes, {input: row size}, output [C, H, W])``.

    The batch axis of every input and of the output is dynamic; the model is put in eval mode and kept in
    float32 on the CPU (a float16 checkpoint is widened).
    """
    model = model.float().cpu().eval()
    example = model.live_inputs(2)
    names = list(example)
    with torch.no_grad():
        out = model.live_decode(*example.values())
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice; it is the simplest for these nets
        torch.onnx.export(
            _Decoder(model), tuple(example.values()), buf, input_names=names, output_names=["image"],
            dynamic_axes={**{n: {0: "batch"} for n in names}, "image": {0: "batch"}}, opset_version=OPSET,
            dynamo=False,
        )
    return buf.getvalue(), {n: int(t.shape[1]) for n, t in example.items()}, [int(s) for s in out.shape[1:]]


def export_decoder(name: str, path: str | os.PathLike, model: nn.Module | None = None) -> LiveExport:
    """Write the decoder (or generator) of model ``name`` to ``path`` as ONNX.

    Args:
        name: a registry name with a decoder (see :func:`live_names`).
        path: the ``.onnx`` file to write (its folder is created).
        model: the model to export; default: the shipped weights (``runs.pretrained(name)``).
    """
    spec = registry.get(name)
    weights_sha = ""
    if model is None:
        from .runs import manifest, pretrained  # the shipped weights

        _check_live(name, spec.model_class)
        model = pretrained(name).model
        weights_sha = str(manifest()["models"][name].get("sha256", ""))
    _check_live(name, model)
    data, inputs, output = onnx_bytes(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return LiveExport(name, spec.title, path.name, len(data), hashlib.sha256(data).hexdigest(), inputs, output, weights_sha)


def max_difference(path: str | os.PathLike, model: nn.Module, n: int = 8, seed: int = 0) -> float:
    """The largest absolute difference between the ONNX file (run by ``onnxruntime``) and torch's
    ``live_decode``, on the same ``n`` random inputs (Gaussian codes, one-hot labels)."""
    import numpy as np
    import onnxruntime as ort

    model = model.float().cpu().eval()
    gen = torch.Generator().manual_seed(seed)
    inputs = {}
    for key, example in model.live_inputs(n).items():
        if key == "z":
            inputs[key] = torch.randn(example.shape, generator=gen)
        else:  # a one-hot row per image
            inputs[key] = torch.eye(example.shape[1])[torch.randint(0, example.shape[1], (n,), generator=gen)]
    with torch.no_grad():
        expected = model.live_decode(*inputs.values()).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
    if got.shape != expected.shape:
        raise AssertionError(f"ONNX output shape {got.shape} differs from torch's {expected.shape}.")
    return float(np.abs(got - expected).max())


def export_live(out_dir: str | os.PathLike, names: list[str] | None = None, warmup: bool | None = None) -> dict[str, Any]:
    """Export every exportable shipped model (or ``names``) into ``out_dir``; write and return the manifest.

    Each file is checked against torch (:func:`max_difference`, :func:`encoder_max_difference`, recorded as
    ``max_abs_difference``); one that differs by more than ``TOLERANCE`` is an error. Models with an encoder get
    it exported too. ``warmup`` (default: when no ``names`` are given) adds the VAE chapter's 2-D warm-up model
    (:func:`export_warmup`; it reads the MNIST test split).
    """
    names_given = bool(names)
    names = list(names) if names else list(live_names())
    unknown = [n for n in names if n not in live_names()]
    if unknown:
        raise ValueError(f"no decoder to export for {unknown}; exportable: {', '.join(live_names())}.")
    out = Path(out_dir)
    models = {}
    for n in names:
        entry = asdict(export_decoder(n, out / f"{n}.onnx"))
        # the one check that the file computes what torch computes, before any page ships it
        from .runs import pretrained

        entry["max_abs_difference"] = max_difference(out / entry["file"], pretrained(n).model)
        if not entry["max_abs_difference"] < TOLERANCE:
            raise RuntimeError(f"{n}: the ONNX decoder differs from torch's by {entry['max_abs_difference']:.3g} (> {TOLERANCE}).")
        if n in encoder_names():
            entry["encoder"] = _checked_encoder(n, pretrained(n).model, out)
        models[n] = entry
    manifest = {"format": 1, "opset": OPSET, "models": models}
    if (not names_given) if warmup is None else warmup:
        manifest.update(export_warmup(out))
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


# ============================================================================================ encoders


WARMUP: dict[str, Any] = registry.WARMUP_RUN
"""The VAE chapter's 2-D warm-up run (book/vae.md trains it with exactly these ``get_run`` arguments; a test checks)."""
WARMUP_TITLE = "2-D warm-up MLP VAE"
CODES_FILE, DIGITS_FILE = "warmup-codes.bin", "digits.bin"


def has_encoder(model: Any) -> bool:
    """Whether a model (or model class) has an encoder to export: ``encode`` besides ``live_decode``/``live_inputs``."""
    return all(callable(getattr(model, m, None)) for m in ("encode", "live_decode", "live_inputs"))


def encoder_names() -> tuple[str, ...]:
    """The registry's models whose encoder the draw-a-digit panels run, in registry order."""
    return tuple(n for n in live_names() if has_encoder(registry.get(n).model_class))


def _takes_label(model: nn.Module) -> bool:
    return "label" in model.live_inputs(1)


class _Encoder(nn.Module):
    """``model.encode`` with the label (when the model takes one) as a one-hot row: ``(mu, logvar)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.conditional = model, _takes_label(model)

    def forward(self, image: torch.Tensor, label: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: D102
        if self.conditional:
            return self.model.encode(image, label.argmax(dim=1))
        return self.model.encode(image)


def encoder_inputs(model: nn.Module, n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs of the exported encoder: images uniform in [0, 1] and (when it takes one) one-hot labels."""
    gen = torch.Generator().manual_seed(seed)
    inputs = {"image": torch.rand(n, 1, 28, 28, generator=gen)}
    if _takes_label(model):
        k = model.live_inputs(1)["label"].shape[1]
        inputs["label"] = torch.eye(k)[torch.randint(0, k, (n,), generator=gen)]
    return inputs


def export_encoder(model: nn.Module, path: str | os.PathLike) -> dict[str, Any]:
    """Write ``model``'s encoder to ``path`` as ONNX (batch axis free); return its manifest entry."""
    if not has_encoder(model):
        raise ValueError(f"{type(model).__name__} has no encoder to export (no encode/live_decode/live_inputs).")
    model = model.float().cpu().eval()
    example = encoder_inputs(model, 2)
    names = list(example)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on the input checks (they only raise) and the exporter's notice
        torch.onnx.export(
            _Encoder(model), tuple(example.values()), buf, input_names=names, output_names=["mu", "logvar"],
            dynamic_axes={**{n: {0: "batch"} for n in names}, "mu": {0: "batch"}, "logvar": {0: "batch"}},
            opset_version=OPSET, dynamo=False,
        )
    data = buf.getvalue()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    inputs = {k: list(v.shape[1:]) if k == "image" else int(v.shape[1]) for k, v in example.items()}
    return {"file": path.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "inputs": inputs,
            "outputs": ["mu", "logvar"], "latent_dim": int(model.latent_dim)}


def encoder_max_difference(path: str | os.PathLike, model: nn.Module, n: int = 8, seed: int = 0) -> float:
    """The largest absolute difference of ``mu`` and ``logvar`` between the ONNX encoder and torch's, on ``n``
    random images (and labels)."""
    import numpy as np
    import onnxruntime as ort

    model = model.float().cpu().eval()
    inputs = encoder_inputs(model, n, seed)
    with torch.no_grad():
        expected = [t.numpy() for t in _Encoder(model)(*inputs.values())]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["mu", "logvar"], {k: v.numpy() for k, v in inputs.items()})
    for g, e in zip(got, expected):
        if g.shape != e.shape:
            raise AssertionError(f"ONNX encoder output shape {g.shape} differs from torch's {e.shape}.")
    return float(max(np.abs(g - e).max() for g, e in zip(got, expected)))


def _checked_encoder(name: str, model: nn.Module, out: Path) -> dict[str, Any]:
    entry = export_encoder(model, out / f"{name}.encoder.onnx")
    entry["max_abs_difference"] = encoder_max_difference(out / entry["file"], model)
    if not entry["max_abs_difference"] < TOLERANCE:
        raise RuntimeError(f"{name}: the ONNX encoder differs from torch's by {entry['max_abs_difference']:.3g} (> {TOLERANCE}).")
    return entry


def warmup_run():
    """The VAE chapter's 2-D warm-up run: loaded from the run cache when the page trained it, else trained the
    same way (one thread, as the page does)."""
    from .runs import get_run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        args = dict(WARMUP)
        return get_run(args.pop("name"), args.pop("profile"), evaluate=False, print_epochs=False, **args)
    finally:
        torch.set_num_threads(threads)


def export_warmup(out: Path) -> dict[str, Any]:
    """Export the warm-up's encoder, the codes of every test digit (float32 ``(N, 2)`` then uint8 labels ``(N,)``,
    in ``warmup-codes.bin``) and one test digit per class (uint8 ``(10, 28, 28)``, ``digits.bin``)."""
    import numpy as np

    from .data import to_float_images

    run = warmup_run()
    model = run.model.float().cpu().eval()
    entry = {"title": WARMUP_TITLE, "run": WARMUP, "source": run.source, "encoder": _checked_encoder("warmup", model, out)}
    test = run.test_set()
    with torch.no_grad():
        codes = torch.cat([model.encode(to_float_images(test.images[i:i + 1000]))[0] for i in range(0, len(test.images), 1000)])
    labels = test.labels.to(torch.uint8)
    blob = codes.numpy().astype("<f4").tobytes() + labels.numpy().tobytes()
    (out / CODES_FILE).write_bytes(blob)
    entry["codes"] = {"file": CODES_FILE, "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest(),
                      "n": int(codes.shape[0]), "layout": "float32 (n, 2) codes, then uint8 (n,) labels"}
    first = [int((test.labels == d).nonzero()[0]) for d in range(10)]
    digits = test.images[first].reshape(10, 28, 28).numpy().astype(np.uint8).tobytes()
    (out / DIGITS_FILE).write_bytes(digits)
    digits_entry = {"file": DIGITS_FILE, "bytes": len(digits), "sha256": hashlib.sha256(digits).hexdigest(),
                    "labels": list(range(10)), "test_index": first, "layout": "uint8 (10, 28, 28), digit d at row d"}
    return {"warmup": entry, "digits": digits_entry}


def main(argv: list[str] | None = None) -> int:
    """``python -m fundamentalml.export OUT_DIR [NAME ...]``."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__.strip().splitlines()[0] + f"\nusage: python -m fundamentalml.export OUT_DIR [{'|'.join(live_names())} ...]", file=sys.stderr)
        return 2
    manifest = export_live(args[0], args[1:])
    for name, entry in manifest["models"].items():
        print(f"{name}: {entry['file']} ({entry['bytes']:,} bytes), inputs {entry['inputs']}, output {entry['output']}, "
              f"largest difference from torch {entry['max_abs_difference']:.2g}")
        if "encoder" in entry:
            enc = entry["encoder"]
            print(f"{name} encoder: {enc['file']} ({enc['bytes']:,} bytes), largest difference from torch {enc['max_abs_difference']:.2g}")
    if "warmup" in manifest:
        warm = manifest["warmup"]
        print(f"warm-up ({warm['source']}): {warm['encoder']['file']} ({warm['encoder']['bytes']:,} bytes), "
              f"{warm['codes']['n']:,} test codes ({warm['codes']['bytes']:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The book's live panels: ship the exported decoders and the panel script with the site.

Loaded by Jupyter Book through ``_config.yml`` (``sphinx.local_extensions``). At build time it

1. adds ``book/_static/fml-live.js`` and ``fml-live.css`` to every page (a few KB; they show the hidden
   ``<details class="fml-live">`` panels that widget outputs carry and load nothing else until one is opened);
2. puts the shipped decoders and generators, exported to ONNX by :mod:`fundamentalml.export`, into the site's
   ``_static/fml-live/`` with a ``models.json`` manifest (each model's inputs, output shape and size, and the
   size of the vendored runtime in ``book/_vendor/onnxruntime-web``, which ``html_extra_path`` serves), with
   the draw-a-digit panels' files: the VAEs' encoders, the VAE chapter's 2-D warm-up encoder, its test codes
   and one test digit per class.

The export runs in a separate process (``python -m fundamentalml.export``) only when its inputs changed: the
files are cached in ``_build/.fundamentalml/live/<key>/``, keyed on the sha256 of the shipped weights and on the
code fingerprint of the export (``fundamentalml.identity.code_fingerprint``: ``export.py`` and every package module
it imports, the run path included), so a cached rebuild neither exports again nor imports torch in the build process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fundamentalml import identity  # torch-free: the package's folder and code identity

STATIC_DIR = Path(__file__).resolve().parents[1] / "_static"  # book/_static: fml-live.js, fml-live.css
RUNTIME_DIR = "onnxruntime-web"  # under book/_vendor, served at the site's root by html_extra_path
RUNTIME_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")  # what a panel fetches
SITE_DIR = "fml-live"  # under the site's _static
MANIFEST = "models.json"


EXPORT_CODE_ROOTS = ("export.py",)  # the export, and through its imports the run path (the warm-up model trains)


def export_key(package: Path) -> str:
    """The cache key of the exported files: sha256 of the shipped weights, and the code fingerprint of the
    export (the modules that export them, and that train the warm-up model, whose run the export loads or
    repeats)."""
    digest = hashlib.sha256(identity.code_fingerprint(EXPORT_CODE_ROOTS, package).encode())
    for path in sorted((package / "weights").glob("*.pt")):
        digest.update(path.name.encode() + b"\0" + identity.sha256_file(path).encode())
    return digest.hexdigest()[:20]


def runtime_sizes(vendor: Path) -> dict[str, Any]:
    """The runtime files a panel fetches, with their sizes (bytes) and the total."""
    files = {name: (vendor / name).stat().st_size for name in RUNTIME_FILES}
    return {"files": files, "bytes": sum(files.values())}


def exported(cache_root: Path, package: Path, log=print) -> Path:
    """The folder of exported models for the current weights and code: from the cache, or exported now."""
    key = export_key(package)
    folder = cache_root / key
    if (folder / MANIFEST).is_file():
        return folder
    tmp = cache_root / f"{key}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(package.parent), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = subprocess.run([sys.executable, "-m", "fundamentalml.export", str(tmp)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"exporting the live panels' models failed:\n{proc.stdout}\n{proc.stderr}")
    for old in cache_root.iterdir():  # keep only the current export
        if old.name != tmp.name:
            shutil.rmtree(old, ignore_errors=True)
    tmp.rename(folder)
    log(f"fml_live: exported the live panels' models in {time.perf_counter() - started:.1f} s (key {key})")
    return folder


def publish(source: Path, site_static: Path, vendor: Path) -> dict[str, Any]:
    """Copy the exported models into the site's ``_static/fml-live`` and write its manifest (with the runtime's size)."""
    manifest = json.loads((source / MANIFEST).read_text())
    manifest["runtime"] = runtime_sizes(vendor)
    dest = site_static / SITE_DIR
    dest.mkdir(parents=True, exist_ok=True)
    for entry in manifest_files(manifest):
        target = dest / entry["file"]
        if not (target.is_file() and target.stat().st_size == entry["bytes"]
                and hashlib.sha256(target.read_bytes()).hexdigest() == entry["sha256"]):
            shutil.copyfile(source / entry["file"], target)
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def manifest_files(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every file the manifest lists (entries with ``file``, ``bytes``, ``sha256``): the decoders, the encoders
    (under a model's ``encoder``), and the warm-up's encoder and codes and the test digits.
"""
    found = []
    for entry in manifest.get("models", {}).values():
        found.append(entry)
        if "encoder" in entry:
            found.append(entry["encoder"])
    warm = manifest.get("warmup")
    if warm:
        found += [warm["encoder"], warm["codes"]]
    if manifest.get("digits"):
        found.append(manifest["digits"])
    return found


# ============================================================================================ Sphinx hooks


def _on_config_inited(app, config) -> None:
    config.html_static_path = [*config.html_static_path, str(STATIC_DIR)]


def _on_build_finished(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    from sphinx.util import logging

    log = logging.getLogger("fml_live")
    root = Path(app.srcdir)
    folder = exported(Path(app.outdir).parent / ".fundamentalml" / "live", identity.PACKAGE_DIR, log.info)
    manifest = publish(folder, Path(app.outdir) / "_static", root / "book" / "_vendor" / RUNTIME_DIR)
    log.info(f"fml_live: {len(manifest['models'])} model(s) and {len(manifest_files(manifest))} file(s) in _static/{SITE_DIR} "
             f"({sum(e['bytes'] for e in manifest_files(manifest)):,} bytes); runtime {manifest['runtime']['bytes']:,} bytes")


def setup(app) -> dict[str, Any]:
    """Register the panel script and style and the export step (Sphinx entry point)."""
    app.connect("config-inited", _on_config_inited)
    app.add_js_file("fml-live.js")
    app.add_css_file("fml-live.css")
    app.connect("build-finished", _on_build_finished)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

"""The decoders exported for the book's live panels compute what torch computes (checked with onnxruntime)."""

from __future__ import annotations

import json

import pytest
import torch

from fundamentalml import export, registry
from fundamentalml.runs import pretrained


def test_every_model_with_a_decoder_is_exportable_and_the_judge_is_not() -> None:
    names = export.live_names()
    assert set(names) == {"vae-mlp", "vae-cnn", "dcgan", "cvae", "cgan"}
    assert registry.JUDGE not in names
    with pytest.raises(ValueError, match="no decoder to export"):
        export.export_decoder(registry.JUDGE, "unused.onnx")
    with pytest.raises(ValueError, match="Unknown model"):
        export.export_decoder("no-such-model", "unused.onnx")


@pytest.mark.parametrize("name", ["vae-mlp", "vae-cnn", "dcgan", "cvae", "cgan"])
def test_shipped_decoder_exports_and_matches_torch(name: str, tmp_path) -> None:
    path = tmp_path / f"{name}.onnx"
    entry = export.export_decoder(name, path)
    model = pretrained(name).model
    assert path.stat().st_size == entry.bytes > 0
    assert entry.inputs == {k: v.shape[1] for k, v in model.live_inputs(1).items()}
    assert entry.weights_sha256 and entry.title == registry.get(name).title
    # the same inputs through onnxruntime and torch, at two batch sizes (the batch axis is free)
    for n in (1, 5):
        assert export.max_difference(path, model, n=n, seed=n) < export.TOLERANCE
    # and a wrong model would be caught: the check compares against the weights, not against itself
    broken = pretrained(name).model
    with torch.no_grad():
        for p in broken.parameters():
            p.add_(0.05)
    assert export.max_difference(path, broken, n=4) > 1e-3


def test_export_live_writes_a_manifest_the_page_can_read(tmp_path) -> None:
    manifest = export.export_live(tmp_path, ["vae-cnn"])
    on_disk = json.loads((tmp_path / export.MANIFEST).read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    entry = on_disk["models"]["vae-cnn"]
    assert entry["output"] == [1, 28, 28] and entry["inputs"] == {"z": 20}
    assert (tmp_path / entry["file"]).stat().st_size == entry["bytes"]
    assert 0 <= entry["max_abs_difference"] < export.TOLERANCE
    with pytest.raises(ValueError, match="exportable"):
        export.export_live(tmp_path, ["classifier"])


def test_live_panel_markup_names_the_exported_models_and_hides_without_scripts() -> None:
    import html as html_lib
    import re

    from fundamentalml import widgets

    models = {"MLP VAE": pretrained("vae-mlp").model, "CNN VAE": pretrained("vae-cnn").model}
    ends = {"CNN VAE": (torch.zeros(20), torch.ones(20))}
    markup = widgets.live_panel_html(models, ends=ends)
    assert markup.startswith('<details class="fml-live"') and " hidden " in markup and "display:none" in markup
    attrs = dict(re.findall(r'(data-[\w-]+)="([^"]*)"', markup))
    assert json.loads(html_lib.unescape(attrs["data-models"])) == [
        {"name": "vae-mlp", "title": "MLP VAE"}, {"name": "vae-cnn", "title": "CNN VAE"}]
    assert json.loads(html_lib.unescape(attrs["data-ends"])) == {"vae-cnn": [[0.0] * 20, [1.0] * 20]}
    assert attrs["data-mode"] == "latent" and "<script" not in markup
    # the judge has no decoder, and a model of no registered class is left out: no panel at all
    assert widgets.live_panel_html({"judge": pretrained("classifier").model}) == ""
    with pytest.raises(ValueError, match="mode"):
        widgets.live_panel_html(models, mode="nonsense")
    with pytest.raises(ValueError, match="n must be"):
        widgets.live_panel_html(models, n=0)
    cond = widgets.live_panel_html({"cVAE": pretrained("cvae").model}, mode="conditional", digit=7)
    assert 'data-mode="conditional"' in cond and 'data-digit="7"' in cond
    bundle = widgets.live_panel(models)._repr_mimebundle_()
    assert bundle["text/html"] == markup.replace(attrs["data-ends"], "{}") and "text/plain" in bundle


# ------------------------------------------------------------------------------------------ encoders (draw a digit)


def test_encoders_are_exported_for_the_vaes_only() -> None:
    assert export.encoder_names() == ("vae-mlp", "vae-cnn", "cvae")
    with pytest.raises(ValueError, match="no encoder"):
        export.export_encoder(pretrained("cgan").model, "unused.onnx")


@pytest.mark.parametrize("name", ["vae-mlp", "vae-cnn", "cvae"])
def test_shipped_encoder_exports_and_matches_torch(name: str, tmp_path) -> None:
    model = pretrained(name).model
    entry = export.export_encoder(model, tmp_path / f"{name}.encoder.onnx")
    assert (tmp_path / entry["file"]).stat().st_size == entry["bytes"] > 0
    assert entry["inputs"]["image"] == [1, 28, 28] and entry["latent_dim"] == 20
    assert ("label" in entry["inputs"]) == (name == "cvae")
    for n in (1, 5):  # the batch axis is free
        assert export.encoder_max_difference(tmp_path / entry["file"], model, n=n, seed=n) < export.TOLERANCE
    broken = pretrained(name).model
    with torch.no_grad():
        for p in broken.parameters():
            p.add_(0.05)
    assert export.encoder_max_difference(tmp_path / entry["file"], broken, n=4) > 1e-3


def test_the_warmup_the_panel_exports_is_the_run_the_chapter_trains() -> None:
    """book/vae.md trains its 2-D warm-up with export.WARMUP's get_run arguments, so the panel's plane is the page's."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "book" / "vae.md").read_text()
    call = re.search(r"toy_run = get_run\(([^\n]*)\)", text)
    assert call, "book/vae.md no longer trains toy_run with get_run"
    w = export.WARMUP
    expected = f'"{w["name"]}", "{w["profile"]}", epochs={w["epochs"]}, model_kwargs={w["model_kwargs"]}'.replace("'", '"')
    assert call.group(1).startswith(expected), (call.group(1), expected)


def test_publish_copies_every_file_of_the_manifest(tmp_path) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))
    import fml_live

    src = tmp_path / "src"
    manifest = export.export_live(src, ["vae-cnn", "cvae"])
    assert manifest["models"]["cvae"]["encoder"]["inputs"] == {"image": [1, 28, 28], "label": 10}
    assert "warmup" not in manifest  # named models only: no warm-up, no data read
    files = fml_live.manifest_files(manifest)
    assert sorted(e["file"] for e in files) == ["cvae.encoder.onnx", "cvae.onnx", "vae-cnn.encoder.onnx", "vae-cnn.onnx"]
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    for f in fml_live.RUNTIME_FILES:
        (vendor / f).write_bytes(b"x")
    fml_live.publish(src, tmp_path / "site", vendor)
    for e in files:
        assert (tmp_path / "site" / fml_live.SITE_DIR / e["file"]).stat().st_size == e["bytes"]

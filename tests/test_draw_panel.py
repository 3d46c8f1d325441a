"""Draw a digit: the pad's preprocessing (fundamentalml/drawing.py and its twin in book/_static/fml-live.js), the
ELBO's terms, the panels' markup, and the models run through the same ONNX files the page runs.

The page itself (pointer events on the built book's pad, the page's reconstruction against torch's) is tested in
tests/test_book.py (``test_draw_panels_in_chromium``), on the book that file builds once.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fundamentalml import drawing, export
from fundamentalml.data import to_float_images
from fundamentalml.models.vae import vae_loss
from fundamentalml.runs import pretrained

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")

# Stroke sequences in pad pixels: a 7, a 0 (closed loop), a 1 with a dot-like tap, a tiny digit, an off-centre 4.
STROKES = {
    "seven": [[(80, 60), (200, 60), (120, 240)]],
    "zero": [[(140 + 60 * math.cos(t / 10), 140 + 90 * math.sin(t / 10)) for t in range(64)]],
    "one-and-dot": [[(150, 40), (140, 250)], [(60, 200)]],
    "tiny": [[(20, 20), (40, 22), (25, 50)]],
    "four": [[(200, 30), (180, 150), (270, 150)], [(250, 60), (240, 275)]],
    "wild": [[(0.3, 0.7), (279.9, 279.2), (-20, 150), (300, 10)]],
}


# ------------------------------------------------------------------------------------------ the Python twin


def test_preprocessing_puts_the_box_at_20_pixels_and_the_centre_of_mass_in_the_middle() -> None:
    for name, strokes in STROKES.items():
        img = drawing.preprocess(drawing.rasterise(strokes))
        assert img.shape == (28, 28) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1, name
        rows, cols = np.nonzero(img.any(1))[0], np.nonzero(img.any(0))[0]
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (20, 21), name  # the longer side: 20 (+1 straddled)
        ys, xs = np.mgrid[0:28, 0:28] + 0.5
        com = ((img * ys).sum() / img.sum(), (img * xs).sum() / img.sum())
        assert abs(com[0] - 14) <= 0.5 + 1e-9 and abs(com[1] - 14) <= 0.5 + 1e-9, (name, com)


def test_a_tiny_drawing_and_a_big_one_of_the_same_shape_give_the_same_digit() -> None:
    small = drawing.preprocess(drawing.rasterise([[(40, 40), (80, 40), (60, 100)]], pen=8))
    big = drawing.preprocess(drawing.rasterise([[(40, 40), (160, 40), (100, 220)]], pen=24))
    assert np.abs(small - big).mean() < 0.05


def test_test_digits_survive_the_pads_path_almost_unchanged() -> None:
    """MNIST is already normalised: loading a test digit into the pad and preprocessing it again changes little."""
    test = pretrained("vae-mlp").test_set()
    for i in range(20):
        digit = test.images[i].numpy().reshape(28, 28)
        again = drawing.preprocess(drawing.from_digit(digit))
        assert np.abs(again - digit / 255).mean() < 0.15, i


def test_bad_input_says_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="nothing is drawn"):
        drawing.preprocess(np.zeros((280, 280)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        drawing.preprocess(np.full((280, 280), 2.0))
    with pytest.raises(ValueError, match="square"):
        drawing.preprocess(np.zeros((280, 100)))
    with pytest.raises(ValueError, match="no points"):
        drawing.rasterise([[]])
    with pytest.raises(ValueError, match="finite"):
        drawing.rasterise([[(float("nan"), 3)]])
    with pytest.raises(ValueError, match="28"):
        drawing.from_digit(np.zeros(10))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        drawing.from_digit(np.full(784, 3.0))


def test_elbo_terms_are_the_losss_two_terms() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 28, 28, generator=gen)
    recon = torch.rand(1, 1, 28, 28, generator=gen).clamp(1e-6, 1 - 1e-6)
    mu, logvar = torch.randn(1, 20, generator=gen), torch.randn(1, 20, generator=gen)
    _, bce, kl = vae_loss(recon.double(), x.double(), mu.double(), logvar.double())
    got = drawing.elbo_terms(x.numpy(), recon.numpy(), mu.numpy(), logvar.numpy())
    assert got == pytest.approx((bce.item(), kl.item()), rel=1e-9)
    # a saturated pixel is clamped at -100 nats, as torch clamps it
    sat = drawing.elbo_terms(np.array([1.0]), np.array([0.0]), np.zeros(1), np.zeros(1))
    assert sat == (100.0, 0.0)


# ------------------------------------------------------------------------------------------ the ONNX path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("draw")
    export.export_live(out, ["vae-mlp", "vae-cnn", "cvae"])
    return out


def _session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_reconstruction_through_the_onnx_files_is_torchs(exported: Path) -> None:
    x = drawing.preprocess(drawing.rasterise(STROKES["seven"]))[None, None]
    for name in ("vae-mlp", "vae-cnn"):
        mu, logvar = _session(exported / f"{name}.encoder.onnx").run(["mu", "logvar"], {"image": x})
        recon = _session(exported / f"{name}.onnx").run(None, {"z": mu})[0]
        model = pretrained(name).model.eval()
        want = model.reconstruct(torch.from_numpy(x)).numpy()
        assert np.abs(recon - want).max() < export.TOLERANCE, name
        with torch.no_grad():
            t_mu, t_logvar = model.encode(torch.from_numpy(x))
        _, bce, kl = vae_loss(torch.from_numpy(want).double(), torch.from_numpy(x).double(), t_mu.double(), t_logvar.double())
        got = drawing.elbo_terms(x, recon, mu, logvar)
        assert got == pytest.approx((bce.item(), kl.item()), rel=1e-4, abs=1e-3), name


def test_cvae_decodes_a_test_digits_style_as_every_digit(exported: Path) -> None:
    """Test digits through the pad's path (from_digit, preprocess), the cVAE's ONNX encoder with their true label,
    then the ONNX decoder with all ten labels: the course's classifier reads the ten as 0..9, 9 times in 10 or more."""
    judge = pretrained("classifier").model.eval()
    test = judge.test_set() if hasattr(judge, "test_set") else pretrained("classifier").test_set()
    enc, dec = _session(exported / "cvae.encoder.onnx"), _session(exported / "cvae.onnx")
    picks = [int(i) for d in range(10) for i in (test.labels == d).nonzero()[:5, 0]]  # five of each digit
    x = np.stack([drawing.preprocess(drawing.from_digit(test.images[i].numpy())) for i in picks])[:, None]
    labels = np.eye(10, dtype=np.float32)[test.labels[picks].numpy()]
    mu, _ = enc.run(["mu", "logvar"], {"image": x, "label": labels})
    ten = dec.run(None, {"z": np.repeat(mu, 10, axis=0), "label": np.tile(np.eye(10, dtype=np.float32), (len(picks), 1))})[0]
    read = judge.predict(torch.from_numpy(ten)).reshape(len(picks), 10)
    rate = (read == torch.arange(10)).float().mean().item()
    assert rate >= 0.9, f"the classifier reads the ten decodes as 0..9 only {rate:.0%} of the time"


# ------------------------------------------------------------------------------------------ markup


def test_draw_panel_markup_and_its_standin() -> None:
    import html as html_lib
    import json
    import re

    from fundamentalml import widgets

    vaes = {"MLP VAE": pretrained("vae-mlp").model, "CNN VAE": pretrained("vae-cnn").model}
    markup = widgets.draw_panel_html(vaes, warmup=True)
    attrs = dict(re.findall(r'(data-[\w-]+)="([^"]*)"', markup))
    assert attrs["data-mode"] == "draw" and attrs["data-warmup"] == "1" and " hidden " in markup and "<script" not in markup
    assert [m["name"] for m in json.loads(html_lib.unescape(attrs["data-models"]))] == ["vae-mlp", "vae-cnn"]
    with pytest.raises(ValueError, match="encoder"):
        widgets.draw_panel_html({"cGAN": pretrained("cgan").model})
    with pytest.raises(ValueError, match="conditional"):
        widgets.draw_panel_html(vaes, conditional=True)
    test = pretrained("vae-mlp").test_set()
    panel = widgets.draw_panel({"cVAE": pretrained("cvae").model}, test.images[:3], test.labels[:3], conditional=True,
                               note="the cGAN has no encoder")
    assert 'data-mode="draw-conditional"' in panel.html and "the cGAN has no encoder" in panel.html
    assert 'class="fml-standin fml-draw-standin"' in panel.html and panel.html.count("data:image/png;base64") == 3
    assert panel.outputs["cVAE"].shape == (3, 10, 1, 28, 28)
    assert "rocket menu" not in panel.html and "takes your own drawing" in panel.html
    with pytest.raises(ValueError, match="one label per test digit"):
        widgets.draw_panel(vaes, test.images[:3], [1, 2])


# ------------------------------------------------------------------------------------------ the JavaScript twin


def test_the_pages_preprocessing_is_the_python_twins() -> None:
    """fml-live.js's rasterise, fromDigit, preprocess and elboTerms, run in Chromium, against drawing.py."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    script = (REPO / "book" / "_static" / "fml-live.js").read_text()
    digit = pretrained("vae-mlp").test_set().images[0].numpy().reshape(-1)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"], headless=True)
        page = browser.new_page()
        # a made-up site: the page and the script, served by the test (nothing leaves the machine)
        page.route("http://fml.invalid/**", lambda route: route.fulfill(
            content_type="application/javascript" if route.request.url.endswith(".js") else "text/html",
            body=script if route.request.url.endswith(".js") else '<html><body><script src="_static/fml-live.js"></script></body></html>'))
        page.goto("http://fml.invalid/page.html")
        page.wait_for_function("window.fmlLive !== undefined")
        for name, strokes in STROKES.items():
            got = page.evaluate("s => { const pad = fmlLive.rasterise(s); return [Array.from(pad), Array.from(fmlLive.preprocess(pad))]; }",
                                [[list(pt) for pt in s] for s in strokes])
            pad = drawing.rasterise(strokes)
            assert np.array_equal(np.asarray(got[0]).reshape(280, 280), pad), f"{name}: the rasters differ"
            assert np.abs(np.asarray(got[1], np.float32).reshape(28, 28) - drawing.preprocess(pad)).max() < 1e-6, name
        got = page.evaluate("d => Array.from(fmlLive.preprocess(fmlLive.fromDigit(d)))", digit.tolist())
        want = drawing.preprocess(drawing.from_digit(digit))
        assert np.abs(np.asarray(got, np.float32).reshape(28, 28) - want).max() < 1e-6
        assert page.evaluate("fmlLive.preprocess(new Float64Array(280 * 280))") is None
        gen = np.random.default_rng(0)
        x, r = gen.random(784), gen.random(784) * 0.98 + 0.01
        mu, lv = gen.normal(size=20), gen.normal(size=20)
        js = page.evaluate("([x, r, m, l]) => fmlLive.elboTerms(x, r, m, l)", [x.tolist(), r.tolist(), mu.tolist(), lv.tolist()])
        assert js == pytest.approx(drawing.elbo_terms(x, r, mu, lv), rel=1e-12)
        browser.close()

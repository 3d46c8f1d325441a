"""Figures and widgets: shapes, errors, and widget behaviour driven through the widget objects (no training)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from fundamentalml import plots, widgets
from fundamentalml.models import ConvVAE, MLPVAE


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {"MLP VAE": MLPVAE().eval(), "CNN VAE": ConvVAE().eval()}


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.rand(6, 1, 28, 28, generator=gen), torch.tensor([3, 8, 1, 0, 7, 2])


def test_to_numpy_images_accepts_the_usual_layouts() -> None:
    assert plots.to_numpy_images(torch.zeros(2, 1, 28, 28)).shape == (2, 28, 28)
    assert plots.to_numpy_images(torch.zeros(2, 3, 32, 32)).shape == (2, 32, 32, 3)
    assert plots.to_numpy_images(np.zeros((28, 28))).shape == (1, 28, 28)
    rgb = plots.to_numpy_images(-torch.ones(1, 3, 32, 32), value_range=(-1, 1))
    assert rgb.min() == 0.0
    with pytest.raises(ValueError, match="channels"):
        plots.to_numpy_images(torch.zeros(2, 5, 8, 8))


def test_make_grid_tiles_with_gaps() -> None:
    grid = plots.make_grid(torch.zeros(10, 1, 28, 28), ncols=4, pad=1)
    assert grid.shape == (3 * 29 - 1, 4 * 29 - 1)


def test_figures_are_figures(models, digits) -> None:
    x, _ = digits
    history = {"epoch": [1, 2], "time_s": [1.5, 3.0], "train_loss": [200.0, 150.0], "val_loss": [190.0, 160.0]}
    figs = [
        plots.plot_image_grid(x),
        plots.plot_sample_grids({n: m.sample(8, seed=0) for n, m in models.items()}),
        plots.plot_reconstructions(x, {n: m.reconstruct(x) for n, m in models.items()}),
        plots.plot_interpolation_strips({n: m.interpolate(x[0], x[1], 5) for n, m in models.items()}, ends=(x[0], x[1])),
        plots.plot_loss_curves({"a": history, "b": history}, x="epoch"),
        plots.plot_loss_curves({"a": history}, x="time_s"),
    ]
    assert all(isinstance(f, Figure) for f in figs)
    lines = figs[-1].axes[0].get_lines()
    assert [list(line.get_xdata()) for line in lines] == [[1.5, 3.0], [1.5, 3.0]]
    assert "wall-clock" in figs[-1].axes[0].get_xlabel()


def test_plot_errors_say_what_to_change(digits) -> None:
    x, _ = digits
    with pytest.raises(ValueError, match="x must be one of"):
        plots.plot_loss_curves({"a": {}}, x="step")
    with pytest.raises(ValueError, match="every row needs"):
        plots.plot_reconstructions(x[:4], {"m": x[:3]})


def test_architecture_table_counts_parameters(models) -> None:
    table = plots.architecture_table(models)
    total = sum(p.numel() for p in models["MLP VAE"].parameters())
    assert f"**{total:,}**" in table
    assert table.splitlines()[0] == "| part | MLP VAE | CNN VAE |"


def test_interpolation_widget_follows_its_controls(models, digits) -> None:
    x, y = digits
    w = widgets.interpolation_widget(models, x, y, start=0, end=1, steps=5)
    mlp = models["MLP VAE"]
    with torch.no_grad():
        mu = mlp.encode(x[:2])[0]
    # mix 0 and 1 decode exactly the two end codes
    w.mix.value = 0.0
    assert torch.allclose(w.latent(), mu[0], atol=1e-5)
    at_start = w.image.value
    w.mix.value = 1.0
    assert torch.allclose(w.latent(), mu[1], atol=1e-5)
    assert w.image.value != at_start  # the picture follows the slider
    w.mix.value = 0.5
    assert torch.allclose(w.latent(), (mu[0] + mu[1]) / 2, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(w.current(), mlp.decode(((mu[0] + mu[1]) / 2).unsqueeze(0)), atol=1e-5)
    # another model, another end point, another path
    before = w.image.value
    w.model.value = "CNN VAE"
    assert w.image.value != before
    w.end.value = 3
    with torch.no_grad():
        cnn_mu = models["CNN VAE"].encode(x[[0, 3]])[0]
    assert torch.allclose(w.latent(), (cnn_mu[0] + cnn_mu[1]) / 2, atol=1e-5)
    w.method.value = "slerp"
    assert not torch.allclose(w.latent(), (cnn_mu[0] + cnn_mu[1]) / 2, atol=1e-4)
    assert w.path().shape == (5, 1, 28, 28)
    assert [label for label, _ in w.start.options][0] == "test #0 (a 3)"


def test_widget_display_carries_live_view_and_static_standin(models, digits) -> None:
    x, y = digits
    w = widgets.interpolation_widget(models, x, y, steps=4)
    bundle = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    html = bundle["text/html"]
    assert 'class="fml-standin"' in html and 'data-standin="interpolation"' in html
    assert html.count("<img ") == 2 * 4  # every model, every step
    assert len(re.findall(r'data-key="\d+/\d+" src="data:image/png;base64,', html)) == 8
    assert 'type="range"' in html and html.count('type="radio"') == 2
    assert "<script" not in html  # inline handlers only: nothing to load, nothing global


def test_frames_standin_checks_its_frames() -> None:
    with pytest.raises(ValueError, match="same, non-zero number"):
        widgets.frames_standin({"a": [torch.zeros(1, 28, 28)], "b": []}, title="t", slider_label="s")
    with pytest.raises(ValueError, match="one label per frame"):
        widgets.frames_standin({"a": [torch.zeros(1, 28, 28)]}, title="t", slider_label="s", ticks=["x", "y"])
    standin = widgets.frames_standin(
        {"cVAE": [torch.zeros(10, 1, 28, 28)] * 3}, title="digits", slider_label="digit", ticks=["0", "1", "2"]
    )
    assert standin.frames == 3 and standin.choices == ["cVAE"]
    assert standin._repr_html_() == standin.html


def test_widget_input_errors(models, digits) -> None:
    x, _ = digits
    with pytest.raises(ValueError, match="at least one model"):
        widgets.interpolation_widget({}, x)
    with pytest.raises(ValueError, match="steps"):
        widgets.interpolation_widget(models, x, steps=1)
    with pytest.raises(ValueError, match="candidates"):
        widgets.interpolation_widget(models, x, candidates=[0])


def test_plots_and_widgets_do_not_import_training() -> None:
    import subprocess
    import sys

    code = "import sys, fundamentalml.plots, fundamentalml.widgets; print('fundamentalml.training' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"

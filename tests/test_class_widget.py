"""The class-selection widget, driven through its Python objects as a click would drive it."""

from __future__ import annotations

import torch

from fundamentalml.models import ConditionalGAN, ConditionalVAE
from fundamentalml.widgets import class_selection_widget


def test_class_selection_widget_follows_its_controls():
    torch.manual_seed(0)
    models = {"cVAE": ConditionalVAE(), "cGAN": ConditionalGAN()}
    w = class_selection_widget(models, digit=3, n=4)
    first_png = w.image.value
    torch.testing.assert_close(w.current(), models["cVAE"].generate(3, 4, seed=0))
    w.digit.value = 7
    torch.testing.assert_close(w.current(), models["cVAE"].generate(7, 4, seed=0))
    assert w.image.value != first_png  # the view was redrawn
    w.model.value = "cGAN"
    w.n.value = 6
    torch.testing.assert_close(w.current(), models["cGAN"].generate(7, 6, seed=0))
    w.seed.value = 1
    assert not torch.equal(w.current(), models["cGAN"].generate(7, 6, seed=0))


def test_class_selection_standin_has_every_digit_for_every_model():
    w = class_selection_widget({"cVAE": ConditionalVAE(), "cGAN": ConditionalGAN()}, n=2)
    html = w.standin().html
    assert 'data-standin="class-selection"' in html
    assert html.count("data:image/png;base64") >= 20  # 10 digits x 2 models
    bundle = w._repr_mimebundle_()
    assert "text/html" in bundle and "application/vnd.jupyter.widget-view+json" in bundle

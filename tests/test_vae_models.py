"""The two VAEs: architecture, knobs, public methods and their input checks."""

from __future__ import annotations

import pytest
import torch

from fundamentalml.metrics import count_parameters
from fundamentalml.models import ConvVAE, MLPVAE


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        # 784*400+400 + 400*400+400 + 2*(400*20+20)  +  20*400+400 + 400*400+400 + 400*784+784
        (MLPVAE, 973_624),
        # convs 320 + 18,496 + 36,928; heads 2*62,740; decoder 65,856 + 18,464 + 289
        (ConvVAE, 265_833),
    ],
)
def test_seed_architectures_have_the_expected_parameter_counts(cls, expected):
    assert count_parameters(cls()) == expected


@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
def test_shapes_of_every_public_method(cls):
    torch.manual_seed(0)
    model = cls()
    x = torch.rand(5, 1, 28, 28)
    logits, mu, logvar = model(x)
    assert logits.shape == (5, 1, 28, 28) and mu.shape == logvar.shape == (5, 20)
    recon = model.reconstruct(x)
    assert recon.shape == (5, 1, 28, 28) and 0 <= recon.min() and recon.max() <= 1
    assert model.encode(x.flatten(1))[0].shape == (5, 20)  # flattened input is accepted
    assert model.decode(torch.zeros(3, 20)).shape == (3, 1, 28, 28)
    assert model.sample(7).shape == (7, 1, 28, 28)
    path = model.interpolate(x[0], x[1], steps=6)
    assert path.shape == (6, 1, 28, 28)
    # the ends of the path are the reconstructions of the end points
    torch.testing.assert_close(path[0], model.reconstruct(x[:1])[0])
    torch.testing.assert_close(path[-1], model.reconstruct(x[1:2])[0])


@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
def test_sample_is_repeatable_with_a_seed(cls):
    model = cls()
    torch.testing.assert_close(model.sample(4, seed=3), model.sample(4, seed=3))
    assert not torch.equal(model.sample(4, seed=3), model.sample(4, seed=4))


def test_every_experimentation_knob_is_one_argument():
    assert MLPVAE(latent_dim=2).fc_mu.out_features == 2
    deeper = MLPVAE(hidden_dims=(512, 256, 128))
    assert [m.out_features for m in deeper.encoder if isinstance(m, torch.nn.Linear)] == [512, 256, 128]
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in MLPVAE(batch_norm=True).modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in ConvVAE(batch_norm=True).modules())
    assert not any(isinstance(m, torch.nn.ReLU) for m in MLPVAE(activation="elu").modules())
    assert MLPVAE(beta=4.0).beta == 4.0
    assert ConvVAE(channels=(16, 32, 32)).encoder[0].out_channels == 16
    for cls in (MLPVAE, ConvVAE):
        m = cls(latent_dim=3, batch_norm=True, activation="gelu")
        assert m(torch.rand(2, 1, 28, 28))[1].shape == (2, 3)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
def test_latent_size_must_be_a_positive_int(cls, bad):
    with pytest.raises((ValueError, TypeError), match="latent_dim must be a positive int"):
        cls(latent_dim=bad)


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="Unknown activation 'swishy'"):
        MLPVAE(activation="swishy")


@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
def test_wrong_inputs_get_errors_that_say_what_to_do(cls):
    model = cls()
    with pytest.raises(ValueError, match=r"shape \(B, 1, 28, 28\).*got \(4, 3, 32, 32\)"):
        model.encode(torch.rand(4, 3, 32, 32))
    with pytest.raises(ValueError, match="unsqueeze"):
        model.encode(torch.rand(1, 28, 28))
    with pytest.raises(TypeError, match=r"x.float\(\) / 255"):
        model.encode(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"latent codes must have shape \(B, 20\)"):
        model.decode(torch.zeros(2, 19))
    with pytest.raises(ValueError, match="positive int"):
        model.sample(0)
    with pytest.raises(ValueError, match="one image per end point"):
        model.interpolate(torch.rand(2, 1, 28, 28), torch.rand(1, 1, 28, 28))

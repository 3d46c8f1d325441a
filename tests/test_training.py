"""Training: loss falls, seeds reproduce, checkpoints are atomic and loaded safely."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch

from fundamentalml import registry
from fundamentalml.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from fundamentalml.metrics import evaluate_vae
from fundamentalml.models import ConvVAE, MLPVAE
from fundamentalml.reports import run_row
from fundamentalml.runs import get_run
from fundamentalml.training import TrainingDiverged, flush_denormals, flush_denormals_enabled

QUIET = dict(progress_bar=False, print_epochs=False)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One smoke run of the MLP VAE on real MNIST, shared by several tests."""
    data = Path(os.environ.get("FUNDAMENTALML_DATA", ""))
    if not (data / "MNIST" / "raw").is_dir():
        pytest.skip("needs the real MNIST")
    out = tmp_path_factory.mktemp("smoke-run")
    return get_run("vae-mlp", "smoke", out=out, epochs=2, **QUIET)


def test_loss_falls_and_history_is_kept_per_epoch(smoke_run):
    h = smoke_run.history
    assert h["epoch"] == [1.0, 2.0]
    assert len(h["train_loss"]) == len(h["val_loss"]) == len(h["time_s"]) == 2
    assert h["train_loss"][1] < h["train_loss"][0]
    assert h["val_loss"][1] < h["val_loss"][0] < 300  # an untrained model sits near 545 nats
    assert h["time_s"][1] > h["time_s"][0] > 0
    for key in ("train_bce", "train_kl", "val_bce", "val_kl"):
        assert key in h


def test_run_row_has_the_seeds_quantitative_table(smoke_run):
    row = run_row(smoke_run)
    assert row["parameters"] == 973_624
    assert 0 < row["recon_mse"] < 0.1
    assert row["neg_elbo"] == pytest.approx(row["bce"] + row["kl"])
    assert row["train_time_s"] > 0 and row["epochs"] == 2
    assert row["final_val_loss"] == smoke_run.history["val_loss"][-1]


def test_weights_and_metrics_are_one_unit(smoke_run):
    """The metrics live inside the checkpoint; the JSON beside it names the checkpoint's sha256."""
    import json

    from fundamentalml.files import sha256_file

    payload = torch.load(smoke_run.checkpoint, weights_only=True)
    assert payload["meta"]["metrics"]["neg_elbo"] == smoke_run.metrics["neg_elbo"]
    sidecar = json.loads(smoke_run.checkpoint.with_suffix(".json").read_text())
    assert sidecar["checkpoint_sha256"] == sha256_file(smoke_run.checkpoint)


def test_checkpoint_round_trip_keeps_weights_history_and_meta(smoke_run):
    loaded = load_checkpoint(smoke_run.checkpoint, expected="vae-mlp")
    for (k, v), (k2, v2) in zip(smoke_run.model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert loaded.history == smoke_run.history
    # an epochs override keeps the profile's name and records the override
    assert loaded.checkpoint_meta["profile"] == "smoke" and loaded.checkpoint_meta["overrides"] == {"epochs": 2}
    x = smoke_run.test_set().images[:8].float() / 255
    torch.testing.assert_close(loaded.reconstruct(x), smoke_run.model.reconstruct(x))


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path, empty_data_dir):
    kwargs = dict(data_dir=empty_data_dir, out=tmp_path, retrain=True, **QUIET)
    with pytest.warns(UserWarning):
        a = get_run("vae-cnn", "smoke", seed=1, **kwargs)
        b = get_run("vae-cnn", "smoke", seed=1, **kwargs)
        c = get_run("vae-cnn", "smoke", seed=2, overwrite=True, **kwargs)  # another seed replaces a run only when asked
    assert a.history["train_loss"] == b.history["train_loss"]
    assert a.history["train_loss"] != c.history["train_loss"]
    assert a.metrics == b.metrics != c.metrics


def test_offline_fallback_trains_end_to_end(empty_data_dir, tmp_path):
    with pytest.warns(UserWarning, match="5,000-digit MNIST subset"):
        run = get_run("vae-mlp", "smoke", data_dir=empty_data_dir, out=tmp_path, **QUIET)
    assert run.meta["data_is_fallback"] and "OFFLINE FALLBACK" in run.meta["data"]
    assert run.history["val_loss"][0] < 545


def test_the_run_path_trains_once_then_loads(tmp_path, empty_data_dir):
    kwargs = dict(data_dir=empty_data_dir, **QUIET)
    with pytest.warns(UserWarning):
        first = get_run("vae-mlp", "smoke", model_kwargs={"latent_dim": 4}, **kwargs)
        second = get_run("vae-mlp", "smoke", model_kwargs={"latent_dim": 4}, **kwargs)
        other = get_run("vae-mlp", "smoke", model_kwargs={"latent_dim": 5}, **kwargs)
        in_out = get_run("vae-mlp", "smoke", model_kwargs={"latent_dim": 4}, out=tmp_path, **kwargs)
        again = get_run("vae-mlp", "smoke", model_kwargs={"latent_dim": 4}, out=tmp_path, **kwargs)
    assert first.source == "trained" and second.source == "loaded" and other.source == "trained"
    assert second.checkpoint == first.checkpoint != other.checkpoint
    assert second.history == first.history
    assert in_out.source == "trained" and again.source == "loaded" and again.checkpoint == tmp_path / "vae-mlp.pt"


def test_a_diverging_vae_keeps_the_good_checkpoint(tmp_path, empty_data_dir):
    """A learning rate of 1e6 makes the loss NaN within a few steps: nothing NaN is written, the good run stays."""
    with pytest.warns(UserWarning):
        good = get_run("vae-mlp", "smoke", data_dir=empty_data_dir, out=tmp_path, **QUIET)
        before = good.checkpoint.read_bytes()
        with pytest.raises(TrainingDiverged, match=r"diverged at step \d+ \(epoch 1, batch \d+\).*last-good.pt"):
            get_run("vae-mlp", "smoke", data_dir=empty_data_dir, out=tmp_path, retrain=True, overwrite=True,
                    model_kwargs={"lr": 1e6}, **QUIET)
    assert good.checkpoint.read_bytes() == before
    last_good = load_checkpoint(tmp_path / "vae-mlp.last-good.pt")
    assert all(torch.isfinite(p).all() for p in last_good.parameters())


def test_nan_weights_are_never_written_or_loaded(tmp_path):
    model = MLPVAE(latent_dim=3)
    with torch.no_grad():
        model.fc_mu.weight[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        save_checkpoint(model, tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()
    payload = MLPVAE(latent_dim=3).checkpoint_dict()
    payload["state_dict"]["fc_mu.weight"][0, 0] = float("inf")
    torch.save(payload, tmp_path / "forged.pt")
    with pytest.raises(CheckpointError, match="NaN or infinite weights"):
        load_checkpoint(tmp_path / "forged.pt")


def test_registry_is_the_one_place_models_are_named():
    for name, spec in registry.MODELS.items():
        assert spec.name == name and set(spec.budgets) == {"smoke", "cpu", "full"}
        assert registry.spec_of(spec.model_class) is spec
    with pytest.raises(ValueError, match="Unknown model 'vae-rnn'.*vae-mlp"):
        registry.get("vae-rnn")
    with pytest.raises(ValueError, match="takes no argument.*latnet_dim"):
        registry.get("vae-mlp").build(latnet_dim=3)


# ------------------------------------------------------------------------------------------ checkpoints


def test_a_failed_save_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    path = save_checkpoint(MLPVAE(latent_dim=3), tmp_path / "model.pt")
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(MLPVAE(latent_dim=4), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left behind


def test_truncated_checkpoint_gets_a_clear_error(tmp_path):
    path = save_checkpoint(MLPVAE(), tmp_path / "model.pt")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a readable checkpoint.*delete it and train again"):
        load_checkpoint(path)


def test_foreign_checkpoints_are_refused(tmp_path):
    lightning_like = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": MLPVAE().state_dict(), "epoch": 3}, lightning_like)
    with pytest.raises(CheckpointError, match="not a FundamentalML checkpoint"):
        load_checkpoint(lightning_like)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="No checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


def test_pickled_code_is_never_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pt"
    torch.save({"format": "fundamentalml-checkpoint/1", "payload": Evil()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_loading_one_model_as_another_is_refused(tmp_path):
    path = save_checkpoint(ConvVAE(), tmp_path / "cnn.pt")
    with pytest.raises(CheckpointError, match="holds a vae-cnn .* not the vae-mlp"):
        load_checkpoint(path, expected="vae-mlp")
    assert isinstance(load_checkpoint(path, expected=ConvVAE), ConvVAE)


def test_weights_that_do_not_fit_are_reported(tmp_path):
    path = save_checkpoint(MLPVAE(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["hparams"]["latent_dim"] = 7
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not fit a MLPVAE"):
        load_checkpoint(path)


def test_flush_denormals_is_scoped():
    torch.set_flush_denormal(False)
    assert not flush_denormals_enabled()
    with flush_denormals():
        assert flush_denormals_enabled()
        assert (torch.tensor([1e-40]) * 1.0).item() == 0.0
    assert not flush_denormals_enabled()
    assert (torch.tensor([1e-40]) * 1.0).item() != 0.0

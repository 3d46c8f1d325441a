"""Profiles, and the command line end to end: train, compare, models, checks before training, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from fundamentalml import profiles, registry
from fundamentalml.checkpoints import load_checkpoint
from fundamentalml.cli import main


def test_default_profile_follows_the_hardware_and_the_environment(monkeypatch):
    monkeypatch.delenv("FUNDAMENTALML_PROFILE", raising=False)
    assert profiles.default_profile() == ("full" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert profiles.default_profile() == "full"
    monkeypatch.setenv("FUNDAMENTALML_PROFILE", "smoke")
    assert profiles.default_profile() == "smoke"
    monkeypatch.setenv("FUNDAMENTALML_PROFILE", "turbo")
    with pytest.raises(ValueError, match="Unknown profile 'turbo'.*smoke, cpu, full"):
        profiles.default_profile()


def test_full_profile_holds_the_seeds_settings():
    for name in ("vae-mlp", "vae-cnn"):
        b = registry.get(name).budget("full")
        assert (b.epochs, b.batch_size, b.lr, b.train_size) == (10, 128, 1e-3, None)
    dcgan = registry.get("dcgan").budget("full")
    assert (dcgan.epochs, dcgan.batch_size, dcgan.lr, dcgan.train_size) == (25, 128, 2e-4, None)


def test_every_model_has_every_profile_and_the_table_shows_them():
    table = registry.budget_table()
    for name in registry.MODEL_NAMES:
        assert set(registry.get(name).budgets) == set(profiles.PROFILES)
        assert f"| {name} | smoke |" in table


def test_unknown_budget_fields_are_explained():
    with pytest.raises(ValueError, match="Unknown budget field"):
        registry.get("vae-mlp").budget("cpu", epoch=3)


def test_cli_train_writes_one_unit_a_csv_log_and_curves(tmp_path, capsys, data_dir):
    main(["train", "vae-cnn", "--profile", "smoke", "--out", str(tmp_path), "--progress_bar", "false", "--latent_dim", "8"])
    printed = capsys.readouterr().out
    assert "| parameters |" in printed and "test -ELBO" in printed
    report = json.loads((tmp_path / "vae-cnn.json").read_text())
    assert report["profile"] == "smoke" and report["model_kwargs"] == {"latent_dim": 8}
    assert report["metrics"]["neg_elbo"] > 0
    model = load_checkpoint(tmp_path / "vae-cnn.pt", expected="vae-cnn")
    assert model.history["epoch"] == [1.0] and model.latent_dim == 8
    assert (tmp_path / "vae-cnn-curves.png").stat().st_size > 1000
    csv = next((tmp_path / "logs" / "vae-cnn").glob("version_*/metrics.csv")).read_text()
    assert csv.startswith("epoch,") and "val_loss" in csv.splitlines()[0]


def test_cli_compare_shipped_needs_no_training(capsys, data_dir):
    from fundamentalml.runs import has_shipped

    if not (has_shipped("vae-mlp") and has_shipped("vae-cnn")):
        pytest.skip("no shipped VAE weights in this checkout")
    main(["compare", "vae-mlp", "vae-cnn"])
    printed = capsys.readouterr().out
    assert "| metric | MLP VAE | CNN VAE |" in printed and "profile shipped" in printed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "vae-rnn", "--profile", "smoke"], "vae-rnn"),
        (["train", "vae-mlp", "--profile", "turbo"], "turbo"),
        (["train", "vae-mlp", "--profile", "smoke", "--model_args", '{"ngf": 3}'], "takes no --ngf"),
        (["train", "dcgan", "--profile", "smoke", "--beta", "2"], "takes no --beta"),
        (["train", "vae-mlp", "--profile", "smoke", "--epochs", "0"], "--epochs must be at least 1"),
        (["train", "vae-mlp", "--profile", "smoke", "--num_nodes", "2"], "wait forever"),
        (["train", "vae-mlp", "--profile", "smoke", "--precision", "16-mixed"], "needs a GPU"),
        (["compare", "vae-mlp", "cgan"], "compare takes"),
    ],
)
@pytest.mark.slow  # a fresh Python importing torch per case
def test_cli_rejects_bad_requests_before_training(args, message, tmp_path):
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "fundamentalml", *args, "--out", str(out)], capture_output=True, text=True)
    assert result.returncode != 0
    assert message in result.stderr
    assert not out.exists() or not any(p.suffix == ".pt" for p in out.iterdir())


@pytest.mark.slow  # a fresh Python importing torch per case
def test_out_that_is_a_file_or_unwritable_fails_before_training(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    result = subprocess.run([sys.executable, "-m", "fundamentalml", "train", "vae-mlp", "--profile", "smoke", "--out", str(a_file)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "is a file, not a folder" in result.stderr and "epoch" not in result.stdout
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere: the unwritable-folder half needs an ordinary user")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = subprocess.run([sys.executable, "-m", "fundamentalml", "train", "vae-mlp", "--profile", "smoke", "--out", str(locked)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "not writable" in result.stderr


@pytest.mark.slow  # a fresh Python importing torch per case
def test_usage_names_the_program():
    result = subprocess.run([sys.executable, "-m", "fundamentalml", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "python -m fundamentalml" in result.stdout and "__main__" not in result.stdout


@pytest.mark.slow  # trains in a subprocess until the signal
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_training_writes_nothing_and_exits_non_zero(signum, code, tmp_path, data_dir):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fundamentalml", "train", "vae-cnn", "--profile", "cpu", "--out", str(out), "--progress_bar", "false"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 120
    # Training has started once the logger is made (in the run's staging folder: the run appears only when done).
    while time.time() < deadline and not ((out / "logs").exists() or list(out.glob(".*.staging/logs"))):
        time.sleep(0.5)
    time.sleep(3)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr[-2000:]
    assert signal.Signals(signum).name in stderr and "nothing was saved" in stderr
    assert not list(out.glob("*.pt")) and not list(out.glob(".*.tmp")) and not list(out.glob(".*"))

"""Profiles, and the command line end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from fundamentalml import profiles
from fundamentalml.cli import main
from fundamentalml.training import load_checkpoint


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
        b = profiles.get_budget(name, "full")
        assert (b.epochs, b.batch_size, b.lr, b.train_size) == (10, 128, 1e-3, None)
    dcgan = profiles.get_budget("dcgan", "full")
    assert (dcgan.epochs, dcgan.batch_size, dcgan.lr) == (25, 128, 2e-4)


def test_every_model_has_every_profile_and_the_table_shows_them():
    table = profiles.budget_table()
    for name in profiles.MODEL_NAMES:
        assert set(profiles.BUDGETS[name]) == set(profiles.PROFILES)
        assert f"| {name} | smoke |" in table


def test_unknown_names_and_fields_are_explained():
    with pytest.raises(ValueError, match="Unknown model 'vae-rnn'"):
        profiles.get_budget("vae-rnn", "cpu")
    with pytest.raises(ValueError, match="Unknown budget field"):
        profiles.get_budget("vae-mlp", "cpu", epoch=3)


def test_cli_train_writes_checkpoint_and_metrics_and_prints_the_table(tmp_path, capsys, data_dir):
    main(["train", "vae-cnn", "--profile", "smoke", "--out", str(tmp_path), "--progress_bar", "false"])
    printed = capsys.readouterr().out
    assert "| parameters | 265,833 |" in printed and "test -ELBO" in printed
    report = json.loads((tmp_path / "vae-cnn.json").read_text())
    assert report["parameters"] == 265_833 and report["profile"] == "smoke"
    assert load_checkpoint(tmp_path / "vae-cnn.pt", expected="vae-cnn").history["epoch"] == [1.0]


def test_cli_compare_reuses_matching_checkpoints(tmp_path, capsys, data_dir):
    main(["compare", "vae-mlp", "vae-cnn", "--profile", "smoke", "--out", str(tmp_path), "--progress_bar", "false"])
    first = capsys.readouterr().out
    assert "| metric | vae-mlp | vae-cnn |" in first
    stamp = (tmp_path / "vae-mlp.pt").stat().st_mtime_ns
    main(["compare", "vae-mlp", "vae-cnn", "--profile", "smoke", "--out", str(tmp_path), "--progress_bar", "false"])
    second = capsys.readouterr().out
    assert "using" in second and (tmp_path / "vae-mlp.pt").stat().st_mtime_ns == stamp
    rows = json.loads((tmp_path / "comparison.json").read_text())
    assert [r["model"] for r in rows] == ["vae-mlp", "vae-cnn"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "vae-rnn", "--profile", "smoke"], "vae-rnn"),
        (["train", "vae-mlp", "--profile", "turbo"], "turbo"),
    ],
)
def test_cli_rejects_unknown_names(args, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "fundamentalml", *args, "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0
    assert message in result.stderr
    assert not any(tmp_path.iterdir())

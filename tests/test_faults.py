"""Hostile inputs and faults: corrupt or unreadable data, bad values, zero-sized models, killed writes."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fundamentalml.data import CIFAR10DataModule, DataError, DataMissingError, load_cifar10, load_mnist, resolve_data_dir
from fundamentalml.files import atomic_write, clean_stale_tmp
from fundamentalml.models import DCGAN, ConditionalGAN, ConditionalVAE, ConvVAE, MLPVAE, MNISTClassifier
from fundamentalml.runs import check_out_dir


@pytest.fixture
def cifar_copy(tmp_path, data_dir):
    """A data folder with a real CIFAR-10 test split (small enough to copy) and a train split to damage."""
    folder = tmp_path / "data" / "cifar10"
    folder.mkdir(parents=True)
    shutil.copy(data_dir / "cifar10" / "test.npz", folder / "test.npz")
    shutil.copy(data_dir / "cifar10" / "test.npz", folder / "train.npz")
    return folder.parent


def test_a_corrupt_cifar_file_is_an_error_never_a_fallback(cifar_copy):
    train = cifar_copy / "cifar10" / "train.npz"
    train.write_bytes(train.read_bytes()[:100_000])  # truncated
    with pytest.raises(DataError, match=r"train\.npz.*truncated or corrupt: replace that file") as info:
        CIFAR10DataModule(data_dir=cifar_copy, fallback_to_digits=True).train_set
    assert not isinstance(info.value, DataMissingError)
    assert "cifar10 test split" in load_cifar10("test", cifar_copy).source  # the good split still loads


def test_absent_cifar_is_the_only_case_that_falls_back(tmp_path):
    with pytest.raises(DataMissingError, match="was not found"):
        load_cifar10("test", tmp_path, download=False)


def test_the_offline_copy_says_it_is_jpeg_decoded(data_dir):
    assert "JPEG" in load_cifar10("test", data_dir).source


def test_a_corrupt_mnist_file_gets_replace_advice_not_delete_the_folder(tmp_path, data_dir):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_dir / "MNIST" / "raw").iterdir():
        shutil.copy(f, raw / f.name)
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match="truncated or corrupt") as info:
        load_mnist("test", tmp_path, download=False)
    assert "delete" not in str(info.value).split("(or")[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: permission errors need an ordinary user")
def test_an_unreadable_file_is_a_permission_problem_not_corruption(tmp_path, data_dir):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    shutil.copy(data_dir / "cifar10" / "test.npz", folder / "test.npz")
    (folder / "test.npz").chmod(0)
    with pytest.raises(DataError, match="permission denied.*not necessarily damaged"):
        load_cifar10("test", tmp_path)


def test_a_data_path_that_is_a_file_is_explained(tmp_path, monkeypatch):
    a_file = tmp_path / "mnist.tar"
    a_file.write_text("x")
    monkeypatch.setenv("FUNDAMENTALML_DATA", str(a_file))
    with pytest.raises(DataError, match=rf"is a file, not a folder.*{tmp_path}"):
        resolve_data_dir()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MLPVAE(lr=float("nan")), "lr must be a finite number > 0"),
        (lambda: MLPVAE(lr=float("inf")), "lr must be a finite number > 0"),
        (lambda: ConvVAE(beta=float("nan")), "beta"),
        (lambda: MLPVAE(lr=-1e-3), "lr must be a finite number > 0"),
        (lambda: DCGAN(ngf=0), "ngf must be a positive int"),
        (lambda: DCGAN(ndf=-4), "ndf must be a positive int"),
        (lambda: DCGAN(beta1=1.0), r"beta1 must be in \[0, 1\)"),
        (lambda: ConditionalVAE(num_classes=0), "num_classes"),
        (lambda: ConditionalVAE(num_classes=1), "at least 2"),
        (lambda: ConditionalGAN(num_classes=0), "num_classes"),
        (lambda: ConditionalGAN(ngf=0), "ngf must be a positive int"),
        (lambda: MLPVAE(latent_dim=0), "latent_dim must be a positive int"),
    ],
)
def test_bad_hyper_parameters_are_refused_with_a_reason(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.rand(2, 1, 28, 28) * 255, "divide by 255"),
        (torch.full((2, 1, 28, 28), float("nan")), "NaN or infinite"),
        (torch.rand(2, 1, 28, 28) - 2, r"must lie in \[0, 1\]"),
    ],
)
@pytest.mark.parametrize("use", [lambda x: MLPVAE().reconstruct(x), lambda x: MNISTClassifier().predict(x),
                                 lambda x: ConditionalVAE().reconstruct(x, torch.zeros(2, dtype=torch.long))])
def test_images_outside_the_expected_range_are_refused(images, message, use):
    with pytest.raises(ValueError, match=message):
        use(images)


def test_integer_like_counts_are_accepted_everywhere():
    for n in (3, np.int64(3), torch.tensor(3)):
        assert MLPVAE().sample(n).shape[0] == 3
        assert DCGAN().sample(n).shape[0] == 3
        assert ConditionalGAN().generate(1, n).shape[0] == 3


def test_inference_helpers_restore_the_mode_they_found():
    model = MLPVAE().train()
    model.sample(2)
    model.reconstruct(torch.rand(2, 1, 28, 28))
    model.interpolate(torch.rand(1, 28, 28), torch.rand(1, 28, 28), steps=3)
    assert model.training
    gan = DCGAN().train()
    gan.sample(2)
    gan.generate(torch.randn(2, 100))
    assert gan.training
    model.eval().sample(2)
    assert not model.training


def test_killed_writes_leave_no_file_and_stale_temporaries_are_cleaned(tmp_path):
    target = tmp_path / "run.pt"
    target.write_bytes(b"good")
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, lambda f: (f.write(b"half"), (_ for _ in ()).throw(KeyboardInterrupt())))
    assert target.read_bytes() == b"good" and [p.name for p in tmp_path.iterdir()] == ["run.pt"]
    stale = tmp_path / ".run.pt.abc.tmp"
    stale.write_bytes(b"left by a SIGKILL")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    fresh = tmp_path / ".other.pt.def.tmp"
    fresh.write_bytes(b"a write in progress")
    check_out_dir(tmp_path)
    assert not stale.exists() and fresh.exists()
    assert clean_stale_tmp(tmp_path) == []


def test_a_full_disk_is_reported_as_such(tmp_path, monkeypatch):
    import errno

    def full(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    target = tmp_path / "m.pt"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match=r"No space left on the disk holding .*m\.pt was not written \(any earlier m\.pt is untouched\)"):
        atomic_write(target, full)
    assert target.read_bytes() == b"old"

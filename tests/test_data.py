"""Data: where it is found, the in-memory fast path, the offline fallback, and errors that explain."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from fundamentalml import data
from fundamentalml.data import (
    CIFAR10DataModule,
    DataError,
    FallbackDataWarning,
    InMemoryImageDataset,
    MNISTDataModule,
    load_cifar10,
    load_mnist,
    resolve_data_dir,
)


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("FUNDAMENTALML_DATA", str(tmp_path / "from-env"))
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_data_dir() == tmp_path / "from-env"
    monkeypatch.delenv("FUNDAMENTALML_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_dir() == tmp_path / "cache" / "fundamentalml"


def test_real_mnist_loads_as_uint8_in_memory(data_dir):
    train, test = load_mnist("train", data_dir), load_mnist("test", data_dir)
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (10000, 1, 28, 28) and len(test) == 10000
    assert train.labels[0] == 5 and test.labels[0] == 7  # the original order
    assert torch.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert not train.is_fallback


def test_offline_fallback_uses_the_real_mnist_subset_and_says_so(empty_data_dir):
    with pytest.warns(FallbackDataWarning, match=r"5,000-digit MNIST subset.*4,000 train images instead of 60,000"):
        train = load_mnist("train", empty_data_dir)
    with pytest.warns(FallbackDataWarning):
        test = load_mnist("test", empty_data_dir)
    assert train.is_fallback and len(train) == 4000 and len(test) == 1000
    assert train.images.dtype == torch.uint8 and train.images.shape[1:] == (1, 28, 28)
    assert set(torch.bincount(train.labels).tolist()) <= set(range(350, 451))  # all ten digits, roughly balanced
    # train and test do not overlap
    flat_train = {bytes(img.numpy()) for img in train.images}
    assert not any(bytes(img.numpy()) in flat_train for img in test.images)


def test_fashion_mnist_falls_back_to_digits_and_says_it_substituted(empty_data_dir):
    with pytest.warns(FallbackDataWarning, match="substituted for fashion-mnist"):
        subset = load_mnist("test", empty_data_dir, dataset="fashion-mnist")
    assert subset.is_fallback


def test_half_a_dataset_is_an_error_naming_the_missing_files(tmp_path, data_dir):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").symlink_to(data_dir / "MNIST" / "raw" / "train-images-idx3-ubyte")
    with pytest.raises(DataError, match=r"only part of the dataset; missing: .*train-labels-idx1-ubyte.*delete"):
        load_mnist("train", tmp_path)


def test_corrupt_idx_file_is_an_error_not_a_crash(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]:
        (raw / name).write_bytes(b"\x00\x00\x08\x03 truncated")
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_mnist("test", tmp_path)


def test_missing_cifar10_offline_lists_every_path_it_looked_in(empty_data_dir):
    with pytest.raises(DataError) as info:
        load_cifar10("train", empty_data_dir)
    message = str(info.value)
    for path in data.cifar10_candidates(empty_data_dir, "train"):
        assert str(path) in message
    assert "FUNDAMENTALML_DATA" in message


def test_cifar10_npz_layout_is_read_channels_first(tmp_path):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    np.savez(folder / "test.npz", images=images, labels=np.arange(20) % 10)
    split = load_cifar10("test", tmp_path)
    assert split.images.shape == (20, 3, 32, 32)
    assert torch.equal(split.images[3, 1], torch.from_numpy(images[3, :, :, 1]))


def test_cifar10_torchvision_batches_are_read(tmp_path):
    import pickle

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((4, 3072), dtype=np.uint8), "labels": [1, 2, 3, 4]}, f)
    split = load_cifar10("test", tmp_path)
    assert split.images.shape == (4, 3, 32, 32) and split.labels.tolist() == [1, 2, 3, 4]


def test_dcgan_data_falls_back_to_padded_rgb_digits(empty_data_dir):
    dm = CIFAR10DataModule(empty_data_dir, batch_size=16, fallback_to_digits=True)
    with pytest.warns(FallbackDataWarning):
        dm.setup()
    x, _ = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert dm.is_fallback and "SUBSTITUTE" in dm.describe()
    with pytest.raises(DataError):
        CIFAR10DataModule(empty_data_dir).setup()


def test_getitems_returns_the_same_as_getitem():
    images = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8)
    ds = InMemoryImageDataset(images, torch.arange(10), value_range="symmetric")
    xb, yb = ds.__getitems__([3, 7])
    torch.testing.assert_close(xb[1], ds[7][0])
    assert yb.tolist() == [3, 7] and xb.min() >= -1 and xb.max() <= 1


def test_datamodule_split_is_fixed_and_batches_are_floats(data_dir):
    a = MNISTDataModule(data_dir, batch_size=64, train_size=1000, eval_size=500)
    b = MNISTDataModule(data_dir, batch_size=64)
    a.setup(), b.setup()
    assert len(a.train_data) == 1000 and len(a.val_data) == 5000 and len(a.test_data) == 500
    assert len(b.train_data) == 55000
    torch.testing.assert_close(a.val_data.images, b.val_data.images)  # the split does not depend on sizes
    torch.testing.assert_close(a.train_data.images, b.train_data.images[:1000])
    x, y = next(iter(a.train_dataloader()))
    assert x.dtype == torch.float32 and x.shape == (64, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert y.dtype == torch.int64
    assert a.fingerprint() == b.fingerprint()
    assert "55,000" not in a.describe() and "1,000 training" in a.describe()


def test_fingerprint_tells_the_fallback_from_the_real_data(data_dir, empty_data_dir):
    real = MNISTDataModule(data_dir)
    with pytest.warns(FallbackDataWarning):
        fallback = MNISTDataModule(empty_data_dir)
        fp = fallback.fingerprint()
    assert real.fingerprint() != fp

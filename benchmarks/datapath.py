"""The textbook input pipeline, to compare the package's in-memory data path against.

torchvision's ``MNIST`` and ``CIFAR10`` datasets hand out one image at a time: a PIL image made from a ``uint8``
array, a ``transforms.ToTensor()`` (and ``Normalize`` for a tanh model), an ``int`` label, then the
``DataLoader``'s default collate stacks the batch. :class:`PerImageDataset` does exactly that over the very
images the package's DataModule serves (the same split, the same count), so the comparison is pipeline against
pipeline, not file against file. The package's path indexes a whole batch of a ``uint8`` tensor at once.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class PerImageDataset(Dataset):
    """torchvision's per-image ``__getitem__`` over in-memory ``uint8`` images ``(N, C, H, W)``.

    Like ``torchvision.datasets.MNIST`` (a grey ``"L"`` image) and ``CIFAR10`` (an ``HWC`` RGB image).
    """

    def __init__(self, images_nchw: torch.Tensor, labels: torch.Tensor, transform: Callable) -> None:
        array = images_nchw.numpy()
        # HWC for RGB; HW for one channel (PIL mode "L", as torchvision's MNIST makes it)
        self.images = np.ascontiguousarray(array[:, 0] if array.shape[1] == 1 else array.transpose(0, 2, 3, 1))
        self.labels = labels.numpy()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def plain_loader(datamodule, batch_size: int | None = None, shuffle: bool = True) -> DataLoader:
    """A plain torchvision pipeline over ``datamodule``'s training images: ``ToTensor()`` per image, default collate.

    Normalised to [-1, 1] when the DataModule serves that range (the tanh GANs), as its in-memory path does.
    """
    from torchvision import transforms

    datamodule.setup("fit")
    train = datamodule.train_data
    steps: list[Callable] = [transforms.ToTensor()]
    if datamodule.value_range == "symmetric":
        steps.append(transforms.Normalize((0.5,), (0.5,)))
    dataset = PerImageDataset(train.images, train.labels, transforms.Compose(steps))
    return DataLoader(dataset, batch_size=batch_size or datamodule.batch_size, shuffle=shuffle, num_workers=0)


def data_only(loader: Iterable, steps: int) -> tuple[float, int]:
    """Iterate ``steps`` batches of ``loader`` and do nothing else; return ``(seconds, images)``."""
    images = 0
    start = time.perf_counter()
    for i, (x, _) in enumerate(loader):
        if i >= steps:
            break
        images += x.shape[0]
    return time.perf_counter() - start, images

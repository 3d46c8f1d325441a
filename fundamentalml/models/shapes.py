"""Output-size arithmetic of convolutions, used to design encoders and decoders that meet in the middle."""

from __future__ import annotations


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Height (or width) after ``nn.Conv2d``: ``floor((size + 2p - d(k - 1) - 1) / s) + 1``."""
    out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if out <= 0:
        raise ValueError(f"a {kernel}x{kernel} convolution with stride {stride}, padding {padding} leaves nothing of size {size}.")
    return out


def conv_transpose_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0, dilation: int = 1
) -> int:
    """Height (or width) after ``nn.ConvTranspose2d``: ``(size - 1)s - 2p + d(k - 1) + output_padding + 1``.

    ``output_padding`` (< stride) picks among the sizes that the matching convolution maps to the same size:
    with kernel 3, stride 2, padding 1 it turns 7 into 14 rather than 13.
    """
    if output_padding >= stride and output_padding >= dilation:
        raise ValueError(f"output_padding ({output_padding}) must be smaller than stride ({stride}) or dilation.")
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1

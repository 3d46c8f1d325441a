"""What a training step costs and what the machine can do: FLOPs per step, matmul rate, peak memory, machine info."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import sys
import time
from typing import Any, Callable

import torch

from fundamentalml.profiles import cpu_flags


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU, threads, bf16 support, versions and the current load."""
    import pytorch_lightning as pl

    model, flags = cpu_flags()
    capability = ""
    with contextlib.suppress(Exception):
        capability = str(torch.backends.cpu.get_cpu_capability())
    cuda = torch.cuda.is_available()
    info: dict[str, Any] = {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": capability,
        "avx512": "avx512f" in flags or "AVX512" in capability,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx": any(f.startswith("amx") for f in flags) or "AMX" in capability,
        "amx_bf16": "amx_bf16" in flags,
        "cuda": torch.cuda.get_device_name(0) if cuda else None,
        "cuda_bf16": bool(cuda and torch.cuda.is_bf16_supported()),
        "torch": str(torch.__version__),
        "pytorch_lightning": pl.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    info["fast_bf16"] = fast_bf16()
    with contextlib.suppress(OSError):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def fast_bf16() -> bool:
    """``True`` where bf16 beats fp32: a CUDA GPU with bf16, or a CPU with ``avx512_bf16`` or ``amx_bf16``.

    The package's own test (:func:`fundamentalml.runs.fast_bf16`), so the benchmark and ``--precision auto``
    agree on what "fast" means.
    """
    from fundamentalml.runs import fast_bf16 as package_fast_bf16

    return package_fast_bf16()


def bf16_skip_reason(info: dict[str, Any]) -> str:
    """Why bf16 is not measured on this machine (meaningful only when :func:`fast_bf16` is ``False``)."""
    where = f"the GPU ({info['cuda']}) has no bf16" if info.get("cuda") else (
        f"this CPU ({info['cpu_model']}) has neither avx512_bf16 nor amx_bf16 in /proc/cpuinfo"
    )
    return f"{where}, so bf16 would be emulated and slower than fp32: nothing worth timing"


def sync(device: str | torch.device) -> None:
    """Wait for the device (a no-op on a CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def matmul_rate(dtype: torch.dtype = torch.float32, seconds: float = 1.0, n: int = 2048, device: str = "cpu") -> float:
    """FLOP/s of ``n x n`` matrix products in ``dtype``, timed for about ``seconds`` (at least 3 products).

    The reference for "% of peak": what this machine's BLAS reaches on a large, ideal matmul right now.
    """
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    torch.mm(a, b, out=out)  # warm-up: thread pool, BLAS/oneDNN kernel selection
    sync(device)
    count, start = 0, time.perf_counter()
    while True:
        torch.mm(a, b, out=out)
        count += 1
        sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and count >= 3:
            return 2.0 * n**3 * count / elapsed


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def flops_per_image(step: Callable[[tuple[torch.Tensor, torch.Tensor]], Any], batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """FLOPs of one training step ``step(batch)`` per image (forward and backward; the optimiser's
    elementwise work is not counted).

    Counted by ``torch.utils.flop_counter.FlopCounterMode``, which counts matmuls and convolutions (2 per
    multiply-add), the operations that dominate these models.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step(batch)
    return counter.get_total_flops() / batch[0].shape[0]

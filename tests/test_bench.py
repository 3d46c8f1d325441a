"""The benchmark runs end to end and reports every number with a sane value (no timing is asserted).

One tiny run (5 timed steps of the MLP VAE on the real MNIST) in a subprocess, exactly as a user starts it;
the FLOP count is checked against the MLP VAE's layer sizes.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from fundamentalml import bench

REPO = Path(__file__).resolve().parents[1]

MODEL_FIELDS = {
    "model", "dataset", "device", "batch_size", "steps", "epoch_steps", "warmup_steps", "repeats", "project", "bare",
    "ratio_project_over_bare", "ratio_target", "plain_data", "data_path_speedup", "data_path_target", "data_only",
    "flops_per_image", "gflops_per_image", "achieved_gflops", "pct_fp32_peak", "pct_bf16_peak", "peak_rss_mb",
    "peak_rss_mb_project", "rss_after_imports_mb", "data_load_s", "times_s", "full_profile", "bf16", "notes",
    "project_epoch_s", "ratio_epoch_over_bare", "fit_fixed_s",
}
MACHINE_FIELDS = {
    "cpu_model", "logical_cpus", "torch_threads", "cpu_capability", "avx512", "avx512_bf16", "amx", "torch",
    "pytorch_lightning", "python", "platform",
}


def mlp_vae_training_flops_per_image(hidden: int = 400, latent: int = 20, pixels: int = 784) -> float:
    """About 3x the forward FLOPs (forward, grad of inputs, grad of weights), 2 FLOPs per multiply-add."""
    forward_macs = pixels * hidden + hidden * hidden + 2 * hidden * latent + latent * hidden + hidden * hidden + hidden * pixels
    return 3 * 2 * forward_macs


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "fundamentalml.bench", "--quick", "--model", "vae-mlp", "--steps", "5", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def test_report_has_every_field(quick_run: tuple[dict, str]) -> None:
    report, _ = quick_run
    assert {"created", "command", "settings", "machine", "peaks", "training_only", "models"} <= set(report)
    assert MACHINE_FIELDS <= set(report["machine"])
    assert report["machine"]["torch_threads"] >= 1
    assert report["peaks"]["fp32"] > 0
    assert list(report["models"]) == ["vae-mlp"]
    r = report["models"]["vae-mlp"]
    assert "error" not in r, r
    assert MODEL_FIELDS <= set(r), MODEL_FIELDS - set(r)


def test_values_are_sane(quick_run: tuple[dict, str]) -> None:
    report, _ = quick_run
    r = report["models"]["vae-mlp"]
    assert r["steps"] == 5 and r["batch_size"] == 128 and r["bf16"] is None
    for path in ("project", "bare", "plain_data"):
        assert r[path]["images"] == 5 * 128
        assert r[path]["time_s"] > 0 and r[path]["images_per_s"] > 0
    assert 0 < r["project_epoch_s"] < r["project"]["time_s"]
    assert r["fit_fixed_s"] == pytest.approx(r["project"]["time_s"] - r["project_epoch_s"])
    for key in ("ratio_project_over_bare", "ratio_epoch_over_bare", "data_path_speedup"):
        assert math.isfinite(r[key]) and r[key] > 0, key
    assert r["data_only"]["speedup"] > 0
    assert r["ratio_target"] == 1.15 and r["data_path_target"] == 1.8
    assert 0 < r["pct_fp32_peak"] < 1000
    assert r["peak_rss_mb"] >= r["peak_rss_mb_project"] >= r["rss_after_imports_mb"] > 0
    # full profile: 10 epochs of the 55,000-image training split at batch 128
    assert r["full_profile"]["steps"] == 10 * math.ceil(55_000 / 128)
    assert r["full_profile"]["estimate_s"] == pytest.approx(r["project"]["time_per_step_s"] * r["full_profile"]["steps"])


def test_flops_match_the_layer_sizes(quick_run: tuple[dict, str]) -> None:
    report, _ = quick_run
    expected = mlp_vae_training_flops_per_image()
    assert report["models"]["vae-mlp"]["flops_per_image"] == pytest.approx(expected, rel=0.2)


def test_table_is_printed(quick_run: tuple[dict, str]) -> None:
    _, stdout = quick_run
    assert "vae-mlp" in stdout and "proj/bare" in stdout and "limit_val_batches=0" in stdout


def test_model_names_are_checked() -> None:
    assert bench._parse_models(["vae-mlp,dcgan", "vae-mlp", "cgan"]) == ["vae-mlp", "dcgan", "cgan"]
    with pytest.raises(ValueError, match="Unknown model"):
        bench._parse_models(["vae"])


def test_book_output_is_parsed() -> None:
    log = "\n".join([
        "updating environment: [new config] 6 added, 0 changed, 0 removed",
        "book/vae: Executing notebook using local CWD [mystnb]",
        "book/vae: Executed notebook in 12.50 seconds [mystnb]",
        "book/gan: Using cached notebook: ID=2 [mystnb]",
        "fundamentalml-book: 1 notebook(s) executed (book/vae.md); 1 chapter(s) served from the cache or unchanged.",
    ])
    assert bench.parse_book_output(log) == {
        "sources_read": 6, "executed": 1, "execution_seconds": 12.5, "from_cache": 1, "failed": 0, "executed_per_book_report": 1,
    }

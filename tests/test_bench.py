"""The benchmark (``benchmarks/``, outside the package) runs end to end and reports sane values; no timing is asserted.

Two tiny runs exactly as a user starts them (``python -m benchmarks`` from the repository root): 3 timed steps of
the MLP VAE on the real MNIST with ``--quick`` (and ``--bf16`` where bf16 is fast), and one full epoch of it on
the 3,600-image offline fallback, where the data-path speed-up is measured. The rest checks the parts in-process:
the bare loop trains every model through its public API, the plain data path serves the same images, the
package never imports the benchmark.
"""

from __future__ import annotations

import ast
import contextlib
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Iterator

import pytest
import torch

from fundamentalml import registry
from fundamentalml.models import GAN

pytestmark = pytest.mark.slow  # subprocesses importing torch: minutes; plain `pytest` leaves it out, `pytest --all` (CI) runs it

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(REPO))  # the benchmark is run from the repository root; it is not an installed package

from benchmarks import bare, book, datapath, flops, run  # noqa: E402
from benchmarks import report as tables  # noqa: E402

MODEL_FIELDS = {
    "model", "title", "dataset", "device", "batch_size", "steps", "epoch_steps", "full_epoch", "warmup_steps", "repeats",
    "project", "bare", "ratio_project_over_bare", "ratio_target", "plain_data", "data_path_speedup", "data_path_skipped",
    "data_path_target", "data_only", "flops_per_image", "gflops_per_image", "achieved_gflops", "pct_fp32_peak",
    "pct_bf16_peak", "peak_rss_mb", "peak_rss_mb_project", "rss_after_imports_mb", "data_load_s", "times_s",
    "full_profile", "bf16", "notes", "project_epoch_s", "ratio_epoch_over_bare", "fit_fixed_s",
}
MACHINE_FIELDS = {
    "cpu_model", "logical_cpus", "torch_threads", "cpu_capability", "avx512", "avx512_bf16", "amx", "fast_bf16", "torch",
    "pytorch_lightning", "python", "platform",
}
COLUMNS = ["model", "img/s proj", "img/s bare", "proj/bare", "target", "epoch/bare", "fixed s", "data x", "target",
           "GFLOP/img", "% fp32", "RSS MB", "full est."]
BF16_COLUMNS = ["bf16/fp32", "% bf16"]
FAST_BF16 = flops.fast_bf16()


def mlp_vae_training_flops_per_image(hidden: int = 400, latent: int = 20, pixels: int = 784) -> float:
    """About 3x the forward FLOPs (forward, grad of inputs, grad of weights), 2 FLOPs per multiply-add."""
    forward_macs = pixels * hidden + hidden * hidden + 2 * hidden * latent + latent * hidden + hidden * hidden + hidden * pixels
    return 3 * 2 * forward_macs


def run_benchmark(out: Path, *args: str) -> tuple[dict, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args, "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def table_row(stdout: str, name: str) -> dict[str, str]:
    """The printed header and row of ``name``, cut at the table's column widths: ``{"_names": [...], column: cell}``."""
    lines = stdout.splitlines()
    columns = tables.table_columns(bf16=any(h in lines[0] for h, _ in tables.COLUMNS_BF16))
    row = next(line for line in lines if line.startswith(name + " "))
    cut, start = [], 0
    for _, width in columns:
        cut.append((start, start + width))
        start += width
    names = [lines[0][a:b].strip() for a, b in cut]
    assert lines[0] == lines[0][:start] and len(row) == start, (lines[0], row)
    return {**dict(zip(names, (row[a:b].strip() for a, b in cut))), "_names": names}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The offline fallback says loudly that it is one; these tests know."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    return run_benchmark(out, "--quick", "--model", "vae-mlp", "--steps", "3", "--warmup", "1", "--bf16")


@pytest.fixture(scope="module")
def epoch_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    empty = tmp_path_factory.mktemp("no-data")  # MNIST falls back to 4,000 digits: an epoch is 28 steps
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    return run_benchmark(out, "--model", "vae-mlp", "--warmup", "1", "--data_dir", str(empty))


# --------------------------------------------------------------------------------------------- end to end


def test_report_has_every_field(quick_run: tuple[dict, str]) -> None:
    report, _ = quick_run
    assert {"created", "command", "settings", "machine", "peaks", "training_only", "models", "bf16_skipped"} <= set(report)
    assert report["command"].startswith("python -m benchmarks --quick")
    assert MACHINE_FIELDS <= set(report["machine"])
    assert report["machine"]["torch_threads"] >= 1
    assert report["peaks"]["fp32"] > 0
    assert list(report["models"]) == ["vae-mlp"]
    r = report["models"]["vae-mlp"]
    assert "error" not in r, r
    assert MODEL_FIELDS <= set(r), MODEL_FIELDS - set(r)


def test_quick_values_are_sane(quick_run: tuple[dict, str]) -> None:
    report, _ = quick_run
    r = report["models"]["vae-mlp"]
    train_images = 60_000 - registry.get("vae-mlp").val_size  # MNIST's training set less the validation split
    assert r["steps"] == 3 and r["batch_size"] == 128 and r["epoch_steps"] == train_images // 128 and not r["full_epoch"]
    for path in ("project", "bare"):
        assert r[path]["images"] == 3 * 128
        assert r[path]["time_s"] > 0 and r[path]["images_per_s"] > 0
    assert 0 < r["project_epoch_s"] < r["project"]["time_s"]
    assert r["fit_fixed_s"] == pytest.approx(r["project"]["time_s"] - r["project_epoch_s"])
    for key in ("ratio_project_over_bare", "ratio_epoch_over_bare"):
        assert math.isfinite(r[key]) and r[key] > 0, key
    assert r["ratio_target"] == 1.15 and r["data_path_target"] == 1.8
    assert 0 < r["pct_fp32_peak"] < 1000
    assert r["peak_rss_mb"] >= r["peak_rss_mb_project"] >= r["rss_after_imports_mb"] > 0
    # full profile: 10 epochs of the training split at batch 128
    assert r["full_profile"]["steps"] == 10 * math.ceil(train_images / 128)
    assert r["full_profile"]["estimate_s"] == pytest.approx(r["project"]["time_per_step_s"] * r["full_profile"]["steps"])


def test_quick_marks_the_data_path_as_not_measured(quick_run: tuple[dict, str]) -> None:
    report, stdout = quick_run
    r = report["models"]["vae-mlp"]
    assert r["plain_data"] is None and r["data_path_speedup"] is None and "plain" not in r["data_only"]
    assert r["data_path_skipped"].startswith("needs full epochs")
    assert table_row(stdout, "vae-mlp")["data x"] == "n/a"
    assert "n/a (needs full epochs)" in stdout


def test_table_has_every_column(quick_run: tuple[dict, str]) -> None:
    _, stdout = quick_run
    header = stdout.splitlines()[0]
    row = table_row(stdout, "vae-mlp")
    assert row["_names"] == COLUMNS + (BF16_COLUMNS if FAST_BF16 else []), header
    assert "limit_val_batches=0" in stdout and "Machine: " in stdout and "Matmul reference" in stdout


def test_bf16_is_measured_where_it_is_fast(quick_run: tuple[dict, str]) -> None:
    report, stdout = quick_run
    r = report["models"]["vae-mlp"]
    if not FAST_BF16:
        assert r["bf16"] is None and report["bf16_skipped"] and "bf16: skipped" in stdout
        return
    assert report["settings"]["bf16"] and report["bf16_skipped"] is None and report["peaks"]["bf16"] > 0
    assert r["bf16"]["images"] == 3 * 128 and r["bf16"]["ratio_bf16_over_fp32"] > 0 and r["pct_bf16_peak"] > 0
    assert float(table_row(stdout, "vae-mlp")["bf16/fp32"]) > 0


def test_flops_match_the_layer_sizes(quick_run: tuple[dict, str]) -> None:
    report, _ = quick_run
    expected = mlp_vae_training_flops_per_image()
    assert report["models"]["vae-mlp"]["flops_per_image"] == pytest.approx(expected, rel=0.2)


def test_a_full_epoch_measures_the_data_path(epoch_run: tuple[dict, str]) -> None:
    report, stdout = epoch_run
    r = report["models"]["vae-mlp"]
    assert r["full_epoch"] and r["steps"] == r["epoch_steps"] > 0 and r["data_path_skipped"] is None
    assert any("offline fallback" in n for n in r["notes"])
    assert r["plain_data"]["images"] == r["project"]["images"] == r["steps"] * 128
    assert math.isfinite(r["data_path_speedup"]) and r["data_path_speedup"] > 0
    assert r["data_only"]["speedup"] > 0
    assert float(table_row(stdout, "vae-mlp")["data x"]) == pytest.approx(r["data_path_speedup"], abs=0.006)
    assert "needs full epochs" not in stdout


def test_bf16_says_why_it_skips(quick_run: tuple[dict, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture) -> None:
    """Without fast bf16 neither the bf16 column nor the quality check runs, and both say why."""
    measured = {**quick_run[0]["models"]["vae-mlp"], "bf16": None}
    calls = []

    def fake_child(name, args, steps, warmup, bf16):
        calls.append(bf16)
        return dict(measured)

    monkeypatch.setattr(flops, "fast_bf16", lambda: False)
    monkeypatch.setattr(run, "measure_in_child", fake_child)
    report = run.main(["--quick", "--model", "vae-mlp", "--bf16", "--json", str(tmp_path / "b.json")])
    out = capsys.readouterr()
    assert calls == [False] and report["peaks"]["bf16"] is None
    assert "avx512_bf16" in report["bf16_skipped"] and "bf16: skipped for every model" in out.out
    assert "bf16/fp32" not in out.out.splitlines()[0]

    report = run.main(["--quality", "--json", str(tmp_path / "q.json")])
    assert report["models"] == {} and "amx_bf16" in report["skipped"]
    assert "bf16 quality check: skipped" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------- the parts


@pytest.mark.parametrize("name", registry.MODEL_NAMES)
def test_bare_step_trains_through_the_public_api(name: str, empty_data_dir: Path) -> None:
    """One bare step moves every weight and returns the model's losses (GANs: both networks)."""
    spec = registry.get(name)
    budget = spec.budget("smoke", batch_size=16)
    with quiet():
        dm = spec.datamodule(budget, empty_data_dir)
        batch = next(bare.batches(dm.train_dataloader(), 1, "cpu"))
    torch.manual_seed(0)
    model = spec.build(budget).train()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    losses = bare.bare_step(model, total_steps=10)(batch)
    assert torch.isfinite(losses["loss"]).all()
    unchanged = [k for k, v in model.named_parameters() if torch.equal(v, before[k])]
    assert not unchanged, unchanged


@pytest.mark.skipif(not FAST_BF16, reason="bf16 autocast is measured only where the CPU has fast bf16")
def test_a_bare_bf16_gan_step_is_the_project_step(empty_data_dir: Path) -> None:
    """At bf16 the bare loop computes what Lightning's plugin computes: the same generator after two steps. With
    autocast's weight cache on, the generator would train through bf16 copies of the discriminator made before
    that step's discriminator update, and the two would differ."""
    import pytorch_lightning as pl

    from fundamentalml.training import fit

    name = next(n for n in registry.MODEL_NAMES if issubclass(registry.get(n).model_class, GAN))
    spec = registry.get(name)
    budget = spec.budget("smoke", batch_size=8, epochs=1, precision="bf16-mixed")
    with quiet():
        dm = spec.datamodule(budget, empty_data_dir)
        dm.setup("fit")
        data = list(bare.batches(dm.train_dataloader(), 2, "cpu"))

    class Fixed(pl.LightningDataModule):
        def train_dataloader(self):
            return torch.utils.data.DataLoader(data, batch_size=None)  # the two batches as they are

    class Reseed(pl.Callback):  # the same noise for each step on both paths
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            torch.manual_seed(100 + batch_idx)

    torch.manual_seed(0)
    project = spec.build(budget)
    torch.manual_seed(0)
    plain = spec.build(budget).train()
    with quiet():
        fit(project, Fixed(), budget, progress_bar=False, print_epochs=False, callbacks=[Reseed()])
    step = bare.bare_step(plain, total_steps=2, precision="bf16-mixed")
    for i, batch in enumerate(data):
        torch.manual_seed(100 + i)
        step(batch)
    plain_state = plain.state_dict()
    for key, value in project.state_dict().items():  # weights and batch-norm statistics, bit for bit
        assert torch.equal(value, plain_state[key]), key


def test_bare_loop_follows_a_per_step_schedule() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1)
    assert bare.unpack_optimizers(opt) == (opt, None, "epoch")
    assert bare.unpack_optimizers({"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}) == (opt, sched, "step")


def test_benchmark_uses_no_private_api() -> None:
    """No ``obj._private`` access anywhere in benchmarks/ (that it names no model is checked, with the package,
    by tests/test_training.py::test_registry_is_the_one_place_models_are_named)."""
    for path in sorted(BENCH.glob("*.py")):
        tree = ast.parse(path.read_text())
        private = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.startswith("__")]
        assert not private, (path.name, private)


def test_package_never_imports_the_benchmark() -> None:
    assert not (REPO / "fundamentalml" / "bench.py").exists()
    hits = [str(p.relative_to(REPO)) for p in (REPO / "fundamentalml").rglob("*.py") if "benchmarks" in p.read_text()]
    assert hits == []
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, fundamentalml.cli, fundamentalml.runs, fundamentalml.training; "
                               "print([m for m in sys.modules if m.split('.')[0] == 'benchmarks'])"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_plain_data_path_serves_the_same_images(empty_data_dir: Path) -> None:
    """torchvision's per-image ToTensor pipeline and the in-memory DataModule agree pixel for pixel."""
    for name in ("vae-mlp", "dcgan"):  # a [0, 1] grey model and a [-1, 1] RGB one
        spec = registry.get(name)
        with quiet():
            dm = spec.datamodule(spec.budget("smoke"), empty_data_dir)
            dm.setup("fit")
        x_plain, y_plain = next(iter(datapath.plain_loader(dm, 8, shuffle=False)))
        x_mem, y_mem = dm.train_data.__getitems__(list(range(8)))
        assert x_plain.shape == x_mem.shape and x_plain.dtype == torch.float32
        torch.testing.assert_close(x_plain, x_mem, atol=1e-6, rtol=0)
        assert torch.equal(y_plain, y_mem)
        seconds, images = datapath.data_only(datapath.plain_loader(dm, 8), 2)
        assert images == 16 and seconds > 0


def test_model_names_are_checked() -> None:
    assert run.parse_models(["vae-mlp,dcgan", "vae-mlp", "cgan"]) == ["vae-mlp", "dcgan", "cgan"]
    with pytest.raises(ValueError, match="Unknown model"):
        run.parse_models(["vae"])


def test_child_command_is_documented() -> None:
    parser = run.build_parser()
    args = parser.parse_args(["--model", "vae-mlp", "--bf16"])
    args.data_dir = "/data"
    cmd = run.child_command("vae-mlp", Path("/tmp/x.json"), args, 30, 3, bf16=True)
    assert cmd[1:3] == ["-m", "benchmarks.child"] and "--bf16" in cmd and cmd[cmd.index("--steps") + 1] == "30"
    assert "--_child" not in run.build_parser().format_help()


def test_book_output_is_parsed() -> None:
    log = "\n".join([
        "updating environment: [new config] 6 added, 0 changed, 0 removed",
        "book/vae: Executing notebook using local CWD [mystnb]",
        "book/vae: Executed notebook in 12.50 seconds [mystnb]",
        "book/gan: Using cached notebook: ID=2 [mystnb]",
        "fundamentalml-book: 1 notebook(s) executed (book/vae.md); 1 chapter(s) served from the cache or unchanged.",
    ])
    assert book.parse_book_output(log) == {
        "sources_read": 6, "executed": 1, "execution_seconds": 12.5, "from_cache": 1, "failed": 0, "executed_per_book_report": 1,
    }


def test_book_timing_copies_with_the_tests_copier(tmp_path: Path) -> None:
    """benchmarks/book.py uses tests/helpers.py's copier: tracked and untracked files, not ignored ones."""
    src = tmp_path / "src"
    src.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=src, check=True)
    (src / ".gitignore").write_text("_build/\n")
    (src / "tracked.md").write_text("a")
    (src / "_build").mkdir()
    (src / "_build" / "page.html").write_text("b")
    subprocess.run(["git", "add", "tracked.md", ".gitignore"], cwd=src, check=True)
    (src / "new.md").write_text("c")
    dest = book.copy_repository(src, tmp_path / "dest")
    assert sorted(p.name for p in dest.rglob("*") if p.is_file()) == [".gitignore", "new.md", "tracked.md"]


def test_whole_run_split_adds_up(tmp_path: Path) -> None:
    """benchmarks.wholerun: the phases of a whole run add up to its wall time, against a bare loop of as many steps
    run an epoch at a time between its training epochs, which leaves the run's result as it is alone."""
    out = tmp_path / "whole.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.wholerun", "--model", "vae-mlp", "--profile", "smoke",
                           "--epochs", "2", "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    phases = [r[k] for k in ("start_up_s", "training_s", "validation_s", "wrap_up_s", "evaluation_s")]
    assert all(p >= 0 for p in phases) and r["training_s"] > 0 and r["evaluation_s"] > 0
    assert sum(phases) == pytest.approx(r["whole_run_s"], rel=0.05)
    assert r["epochs"] == 2 and r["train_steps"] > 0 and r["bare_s"] > 0
    # One bare epoch beside each training epoch, and they make up the reference.
    assert len(r["bare_epochs_s"]) == len(r["training_epochs_s"]) == 2
    assert r["bare_s"] == pytest.approx(sum(r["bare_epochs_s"])) and r["ratio_epoch_median"] > 0
    assert sum(r["training_epochs_s"]) == pytest.approx(r["training_s"])
    assert r["ratio_whole_over_bare"] == pytest.approx(r["whole_run_s"] / r["bare_s"])
    # The bare epoch between the two training epochs leaves the whole run as it would be alone: the same test -ELBO
    # (without putting the random state back, the second epoch's shuffle and noise would differ).
    from fundamentalml.runs import get_run

    alone = get_run("vae-mlp", "smoke", out=tmp_path / "alone", retrain=True, epochs=2, precision=r["precision"],
                    progress_bar=False, print_epochs=False)
    assert r["headline"]["neg_elbo"] == pytest.approx(alone.evaluate().to_dict()["neg_elbo"], abs=1e-6)
    assert "neg_elbo" in r["headline"] and "whole/bare" in proc.stdout


def test_layout_variants_time_each_and_keep_failures_apart(tmp_path: Path) -> None:
    out = tmp_path / "layouts.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.layouts", "--model", "vae-cnn", "--steps", "1", "--warmup", "1",
                           "--repeats", "1", "--variant", "eager", "--variant", "channels_last", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert {(r["variant"], r["precision"]) for r in rows} >= {("eager", "fp32"), ("channels_last", "fp32")}
    for r in rows:
        assert "error" not in r, r
        assert r["time_per_step_s"] > 0 and r["steps"] == 1
        assert r["ratio_vs_eager"] == pytest.approx(1.0) if r["variant"] == "eager" else r["ratio_vs_eager"] > 0


def test_a_model_whose_profile_says_auto_precision_is_measured_at_fp32(tmp_path: Path, data_dir: Path) -> None:
    """The DCGAN's full profile asks for precision "auto": the benchmark's columns stay fp32 and say so."""
    assert registry.get("dcgan").budget("full").precision == "auto"
    out = tmp_path / "dcgan.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.child", "--model", "dcgan", "--steps", "2", "--warmup", "1",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["steps"] == 2 and r["project"]["time_s"] > 0 and r["bare"]["time_s"] > 0
    assert any("precision 'auto'" in n and "these columns time fp32" in n for n in r["notes"]), r["notes"]


def test_the_whole_course_line_sums_every_models_full_budget() -> None:
    """The line under the table: all models' full-budget FLOPs, the floor at the matmul rates, the summed estimates."""
    def row(flops: float, estimate: float, bf16_ratio: float | None) -> dict:
        return {"full_profile": {"flops": flops, "estimate_s": estimate},
                "bf16": {"ratio_bf16_over_fp32": bf16_ratio} if bf16_ratio else None}

    report = {"peaks": {"fp32": 1e11, "bf16": 2e11},
              "models": {"a": row(3e14, 6000.0, 0.5), "b": row(3e14, 1200.0, 0.5), "broken": {"error": "x"}}}
    line = tables.course_line(report)
    # 6e14 FLOP: 6,000 s at 1e11 FLOP/s, 3,000 s at 2e11; estimates 7,200 s fp32, 3,600 s bf16 (3e3 s floor = 83%)
    assert line.startswith("All 2 models' full budgets together: 600 TFLOP of training")
    assert "at the fp32 matmul rate at least 1.67 h, at the bf16 rate at least 50.0 min" in line
    assert "sums to 2.00 h at fp32, 1.00 h at bf16 (83% of the bf16 rate)" in line
    report["models"]["b"]["bf16"] = None  # one model without a bf16 time: no bf16 sum
    assert "at bf16 (" not in tables.course_line(report)
    report["models"].pop("a")
    assert tables.course_line(report) is None  # one model: nothing to add up


def test_denormal_modes_are_measured_and_told_apart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks.denormals: each mode timed, and each mode really is what it says (the share left unflushed)."""
    from benchmarks import denormals

    name = registry.benchmark_models("quick")[0]
    (result,) = denormals.main(["--model", name, "--steps", "2", "--warmup", "0", "--repeats", "2",
                                "--data_dir", str(tmp_path)])  # an empty folder: the offline fallback's digits
    assert set(result["seconds_per_step"]) == set(denormals.MODES)
    assert all(s > 0 for s in result["seconds_per_step"].values())
    shares = result["unflushed_share"]
    assert shares["none"] == 1.0 and shares["every thread"] == 0.0
    assert shares["torch (one thread)"] < 1.0  # torch's switch reaches one thread of torch.get_num_threads()
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("model") and f"\n{name} " in out and "Machine: " in out
    with pytest.raises(SystemExit):
        denormals.main(["--steps", "0"])

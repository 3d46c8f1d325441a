"""The hostile-user run of issue 25, as tests: nothing lost at the level of a run, nothing silent, nothing unclear.

Three tables, one per kind of finding:

* LOST: a run is one transaction (its files appear together or not at all; a signal at any moment leaves the
  previous run whole, exit 130/143); the shipped weights are never a training target; a run with other
  settings is never replaced without ``--overwrite``; two runs into one output are refused while one holds
  the lock.
* SILENT: model arguments checked against the class's signature; data files checked (counts, labels, sizes,
  the test split copied over the training split, half a CIFAR-10, a CIFAR-10 pickle that tries to run code);
  the shipped metrics tied to the shipped files; inputs checked at the public boundary.
* UNCLEAR: every error the command line can meet is one line and exit 2 (or 3 for divergence), never a
  traceback.

Training is replaced by a stand-in (``fake_train``) wherever the test is about what happens around it, and
the data is the offline fallback or tiny files made here, so the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from fundamentalml import metrics, registry, runs, training
from fundamentalml.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from fundamentalml.cli import main
from fundamentalml.data import (CIFAR10DataModule, DataError, DataMissingError, FallbackDataWarning, load_cifar10,
                                load_mnist)
from fundamentalml.files import FolderInUseError, acquire_lock, release_lock, sha256_file
from fundamentalml.models import DCGAN, ConditionalVAE, MLPVAE, MNISTClassifier
from fundamentalml.runs import (WEIGHTS_DIR, RunConflictError, RunTransaction, ShippedWeightsError, check_out_dir,
                                get_run, pretrained)
from fundamentalml.training import TrainingInterrupted

pytestmark = pytest.mark.filterwarnings("ignore::fundamentalml.data.FallbackDataWarning")
QUIET = dict(progress_bar=False, print_epochs=False)


# ------------------------------------------------------------------------------------------ helpers


@pytest.fixture
def fake_train(monkeypatch):
    """Replace training by building the model (a stand-in for a finished run); counts the calls."""
    calls = []

    def train(spec, budget, *, profile, data_dir=None, seed=0, dataset=None, last_good_dir=None, keep_epochs_dir=None,
              progress_bar=True, print_epochs=True, trainer_kwargs=None, model_kwargs=None):
        calls.append(spec.name)
        for logger in (trainer_kwargs or {}).get("logger") or []:  # what Lightning's loggers write
            logger.log_metrics({"train_loss": 1.0}, step=0)
            logger.save()
        torch.manual_seed(seed)
        model = spec.build(budget, **(model_kwargs or {}))
        model.history = {"epoch": [1.0], "train_loss": [1.0], "time_s": [0.1]}
        model.eval()
        dm = spec.datamodule(budget, data_dir, dataset=dataset)
        meta = {"name": spec.name, "profile": profile, "budget": budget.to_dict(), "seed": seed,
                "model_kwargs": dict(model_kwargs or {}), "dataset": dataset or spec.dataset, "train_time_s": 0.1,
                "data": "stand-in", "data_fingerprint": dm.fingerprint(), "data_is_fallback": dm.is_fallback}
        return training.Trained(model, dm, budget, meta)

    monkeypatch.setattr(training, "train", train)
    return calls


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included) with its sha256."""
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    """``main(args)`` in this process: (exit code, stderr)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    return code, capsys.readouterr().err


def previous_run(out: Path, empty_data_dir: Path) -> dict[str, str]:
    """A finished run of the MLP VAE with latent_dim 2 in ``out`` (weights with metrics, JSON, an old curves PNG)."""
    get_run("vae-mlp", "smoke", out=out, data_dir=empty_data_dir, model_kwargs={"latent_dim": 2}, **QUIET)
    (out / "vae-mlp-curves.png").write_bytes(b"old curves")
    return snapshot(out)


def idx_images(path: Path, images: np.ndarray) -> None:
    path.write_bytes(struct.pack(">HBBI", 0, 8, 3, len(images)) + struct.pack(">II", *images.shape[1:]) + images.astype(np.uint8).tobytes())


def idx_labels(path: Path, labels: np.ndarray) -> None:
    path.write_bytes(struct.pack(">HBBI", 0, 8, 1, len(labels)) + labels.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_copy(tmp_path, data_dir):
    """A data folder whose MNIST files are links to the real ones (replace one to damage it)."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_dir / "MNIST" / "raw").iterdir():
        if f.is_file():
            (raw / f.name).symlink_to(f)
    return raw


# ================================================================================================ LOST


def test_lost_1_the_shipped_weights_folder_is_never_a_training_target(tmp_path, capsys, fake_train):
    before = sha256_file(WEIGHTS_DIR / "vae-mlp.pt")
    code, err = run_cli(["train", "vae-mlp", "--profile", "smoke", "--out", str(WEIGHTS_DIR)], capsys)
    assert code == 2 and "shipped weights" in err and "Traceback" not in err
    with pytest.raises(RunConflictError, match="shipped weights"):
        check_out_dir(WEIGHTS_DIR / "sub")
    teacher = tmp_path / "teacher-set"
    teacher.mkdir()
    (teacher / "manifest.json").write_text('{"models": {}}')
    with pytest.raises(RunConflictError, match="shipped weights"):
        get_run("vae-mlp", "smoke", out=teacher, **QUIET)
    assert not fake_train and sha256_file(WEIGHTS_DIR / "vae-mlp.pt") == before
    pretrained("vae-mlp")  # still matches its manifest


def test_lost_2_a_run_with_other_settings_is_not_replaced_without_overwrite(tmp_path, empty_data_dir, capsys, fake_train):
    out = tmp_path / "X"
    before = previous_run(out, empty_data_dir)
    with pytest.raises(RunConflictError, match=r"other settings \(model_kwargs \{'latent_dim': 2\} there, \{\} now\).*--overwrite"):
        get_run("vae-mlp", "smoke", out=out, data_dir=empty_data_dir, **QUIET)
    code, err = run_cli(["compare", "vae-mlp", "vae-cnn", "--profile", "smoke", "--out", str(out),
                         "--data_dir", str(empty_data_dir)], capsys)
    assert code == 2 and "other settings" in err and "Traceback" not in err
    assert snapshot(out) == before and fake_train == ["vae-mlp"]
    # Same settings: a retrain may replace it. Other settings with overwrite: replaced, old curves gone too.
    get_run("vae-mlp", "smoke", out=out, data_dir=empty_data_dir, model_kwargs={"latent_dim": 2}, retrain=True, **QUIET)
    run = get_run("vae-mlp", "smoke", out=out, data_dir=empty_data_dir, overwrite=True, **QUIET)
    assert run.model.latent_dim == 20 and load_checkpoint(out / "vae-mlp.pt").latent_dim == 20
    assert not (out / "vae-mlp-curves.png").exists()  # the old run's picture never sits beside the new weights
    report = json.loads((out / "vae-mlp.json").read_text())
    assert report["checkpoint_sha256"] == sha256_file(out / "vae-mlp.pt") and report["metrics"]["neg_elbo"] > 0


@pytest.mark.parametrize(
    ("where", "signum"),
    [("evaluation", signal.SIGTERM), ("saving the weights", signal.SIGTERM), ("saving the JSON", signal.SIGTERM),
     ("saving the weights", signal.SIGINT)],
)
def test_lost_3_4_a_signal_after_training_leaves_the_previous_run_whole(where, signum, tmp_path, empty_data_dir, monkeypatch, fake_train):
    out = tmp_path / "X"
    before = previous_run(out, empty_data_dir)

    def kill_then(real):
        def wrapped(*args, **kwargs):
            os.kill(os.getpid(), signum)
            time.sleep(0.05)  # the handler runs here
            return real(*args, **kwargs)
        return wrapped

    target = {"evaluation": (metrics, "evaluate_vae"), "saving the weights": (runs, "save_checkpoint"),
              "saving the JSON": (runs, "save_json")}[where]
    monkeypatch.setattr(*target, kill_then(getattr(*target)))
    with pytest.raises(TrainingInterrupted) as info:
        get_run("vae-mlp", "smoke", out=out, data_dir=empty_data_dir, model_kwargs={"latent_dim": 2}, retrain=True, **QUIET)
    assert info.value.exit_code == 128 + signum
    assert signal.Signals(signum).name in str(info.value) and "previous run" in str(info.value)
    assert snapshot(out) == before  # the old weights, JSON and curves, byte for byte; no staging, no lock left


def test_lost_3_the_cli_reports_a_signal_during_saving_with_its_exit_code(tmp_path, empty_data_dir, monkeypatch, capsys, fake_train):
    out = tmp_path / "X"
    real = runs.save_checkpoint

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "save_checkpoint", interrupted)
    code, err = run_cli(["train", "vae-mlp", "--profile", "smoke", "--out", str(out), "--data_dir", str(empty_data_dir),
                         "--progress_bar", "false"], capsys)
    assert code == 130 and "SIGINT" in err and "Traceback" not in err and "KeyboardInterrupt" not in err
    assert not list(out.glob("*.pt")) and not list(out.glob(".*"))


def test_lost_4_the_cli_run_appears_whole_curves_and_logs_included(tmp_path, empty_data_dir, capsys, fake_train):
    out = tmp_path / "X"
    code, err = run_cli(["train", "vae-mlp", "--profile", "smoke", "--out", str(out), "--data_dir", str(empty_data_dir),
                         "--progress_bar", "false"], capsys)
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == {"vae-mlp.pt", "vae-mlp.json", "vae-mlp-curves.png", "logs"}
    assert (out / "logs" / "vae-mlp").is_dir()


def test_lost_4_a_failed_commit_puts_the_previous_run_back(tmp_path, monkeypatch):
    out = tmp_path / "X"
    out.mkdir()
    for name in ("m.pt", "m.json", "m-curves.png"):
        (out / name).write_text(f"old {name}")
    before = snapshot(out)
    real_replace, calls = os.replace, []

    def failing(src, dst):
        calls.append(dst)
        if len(calls) == 5:  # after the three old files went aside and one new one came in
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    with pytest.raises(OSError), RunTransaction(out, "m") as tx:
        for name in ("m.pt", "m.json"):
            (tx.staging / name).write_text(f"new {name}")
        monkeypatch.setattr(os, "replace", failing)
        tx.commit()
    monkeypatch.setattr(os, "replace", real_replace)
    assert snapshot(out) == before


def test_lost_4_a_signal_during_the_commit_waits_for_it_then_says_so(tmp_path, monkeypatch):
    out = tmp_path / "X"
    out.mkdir()
    (out / "m.pt").write_text("old")
    real_replace = os.replace
    sent = []

    def signalling(src, dst):
        if not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
        return real_replace(src, dst)

    with pytest.raises(TrainingInterrupted, match="completed first") as info, RunTransaction(out, "m") as tx:
        (tx.staging / "m.pt").write_text("new")
        (tx.staging / "m.json").write_text("new json")
        monkeypatch.setattr(os, "replace", signalling)
        tx.commit()
    monkeypatch.setattr(os, "replace", real_replace)
    assert info.value.exit_code == 143
    assert (out / "m.pt").read_text() == "new" and (out / "m.json").read_text() == "new json"


def test_lost_4_a_commit_killed_outright_is_rolled_back_by_the_next_run(tmp_path, capsys):
    out = tmp_path / "X"
    (out / ".m.backup").mkdir(parents=True)
    (out / ".m.staging").mkdir()
    (out / ".m.backup" / "m.pt").write_text("old")  # moved aside by the killed commit
    (out / "m.pt").write_text("new, half committed")  # already placed
    (out / "m.json").write_text("new json, placed, no old one")
    (out / ".m.backup" / "journal.json").write_text(json.dumps({"old": ["m.pt"], "new": ["m.pt", "m.json"]}))
    with RunTransaction(out, "m"):
        assert (out / "m.pt").read_text() == "old" and not (out / "m.json").exists()
    assert "put back" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["m.pt"]


def test_lost_5_a_second_run_into_the_same_output_is_refused_while_the_first_holds_the_lock(tmp_path, empty_data_dir, capsys, fake_train):
    out = tmp_path / "X"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".vae-mlp.lock").write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename, "command": "train"}))
        with pytest.raises(FolderInUseError, match=rf"in use: process {holder.pid}.*Wait for that run"):
            get_run("vae-mlp", "smoke", out=out, data_dir=empty_data_dir, **QUIET)
        code, err = run_cli(["train", "vae-mlp", "--profile", "smoke", "--out", str(out), "--data_dir", str(empty_data_dir)], capsys)
        assert code == 2 and "in use" in err
        assert not fake_train and not (out / "vae-mlp.pt").exists()
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: its lock is stale and is taken over, with a note.
    get_run("vae-mlp", "smoke", out=out, data_dir=empty_data_dir, **QUIET)
    assert "no longer running" in capsys.readouterr().err
    assert (out / "vae-mlp.pt").is_file() and not (out / ".vae-mlp.lock").exists()


def test_lost_5_the_lock_is_exclusive_and_released(tmp_path):
    lock = tmp_path / ".x.lock"
    acquire_lock(lock, "x")
    with pytest.raises(FolderInUseError):  # this very process holds it: a second taker is refused
        acquire_lock(lock, "x")
    release_lock(lock)
    assert not lock.exists()


# ================================================================================================ SILENT

BAD_MODEL_ARGS = [
    ("vae-mlp", {"batch_norm": "false"}, "must be true or false"),
    ("vae-cnn", {"batch_norm": "false"}, "must be true or false"),
    ("dcgan", {"batch_norm": "false"}, "must be true or false"),
    ("vae-mlp", {"batch_norm": "yes"}, "must be true or false"),
    ("vae-mlp", {"hidden_dims": [1.5]}, r"hidden_dims\[0\] must be a whole number"),
    ("vae-mlp", {"hidden_dims": [0]}, "between 1 and"),
    ("vae-mlp", {"latent_dim": 10**8}, "between 1 and"),
    ("vae-mlp", {"latent_dim": "big"}, "whole number"),
    ("vae-mlp", {"beta": float("nan")}, "finite number"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), BAD_MODEL_ARGS)
def test_silent_model_arguments_are_checked_against_the_signature(name, kwargs, message, tmp_path, capsys, fake_train):
    with pytest.raises((TypeError, ValueError), match=message):
        get_run(name, "smoke", out=tmp_path / "api", model_kwargs=kwargs, **QUIET)
    code, err = run_cli(["train", name, "--profile", "smoke", "--out", str(tmp_path / "cli"), "--model_args", json.dumps(kwargs)], capsys)
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert not fake_train


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--model_args", '{"latent_dim": 4}', "--latent_dim", "8"], "latent_dim is given twice"),
     (["--out", ""], "--out is empty")],
)
def test_silent_a_value_given_twice_or_an_empty_out_is_refused(args, message, tmp_path, capsys, fake_train, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["train", "vae-mlp", "--profile", "smoke"] + ([] if "--out" in args else ["--out", str(tmp_path / "o")])
    code, err = run_cli(base + args, capsys)
    assert code == 2 and message in err and not fake_train
    assert not list(tmp_path.glob("*.pt"))


def test_silent_labels_that_do_not_match_the_images_are_refused_by_file(mnist_copy):
    labels = mnist_copy / "train-labels-idx1-ubyte"
    real = np.frombuffer(labels.resolve().read_bytes()[8:], dtype=np.uint8)
    labels.unlink()
    idx_labels(labels, real[:59_000])
    with pytest.raises(DataError, match=r"60,000 images but 59,000 labels") as info:
        load_mnist("train", mnist_copy.parent.parent, download=False)
    assert str(labels) in str(info.value)
    test_labels = mnist_copy / "t10k-labels-idx1-ubyte"
    real = np.frombuffer(test_labels.resolve().read_bytes()[8:], dtype=np.uint8).copy()
    test_labels.unlink()
    real[5] = 200
    idx_labels(test_labels, real)
    with pytest.raises(DataError, match=r"labels from 0 to 200, expected 0\.\.9") as info:
        load_mnist("test", mnist_copy.parent.parent, download=False)
    assert str(test_labels) in str(info.value)


def test_silent_the_test_files_copied_over_the_training_files_are_refused(mnist_copy):
    for train_name, test_name in (("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"), ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte")):
        (mnist_copy / train_name).unlink()
        (mnist_copy / train_name).symlink_to((mnist_copy / test_name).resolve())
    with pytest.raises(DataError, match="test split was copied over the training split"):
        load_mnist("train", mnist_copy.parent.parent, download=False)


def _cifar_npz(path: Path, n: int, labels=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    np.savez(path, images=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
             labels=np.arange(n) % 10 if labels is None else labels)


def test_silent_half_a_cifar10_never_trains_on_digits(tmp_path):
    _cifar_npz(tmp_path / "cifar10" / "test.npz", 20)
    dm = CIFAR10DataModule(tmp_path, fallback_to_digits=True)
    with pytest.raises(DataError, match=r"the train split is missing.*but the other split is there") as info:
        dm.train_set
    assert not isinstance(info.value, DataMissingError)


@pytest.mark.parametrize(
    ("n", "labels", "message"),
    [(20, np.arange(19) % 10, "20 images but 19 labels"), (20, np.full(20, 12), r"labels from 12 to 12")],
)
def test_silent_cifar10_counts_and_labels_are_checked(n, labels, message, tmp_path):
    _cifar_npz(tmp_path / "cifar10" / "test.npz", n, labels)
    with pytest.raises(DataError, match=message):
        load_cifar10("test", tmp_path)


def test_silent_cifar10_train_equal_to_test_is_refused(tmp_path):
    _cifar_npz(tmp_path / "cifar10" / "test.npz", 20)
    shutil.copy(tmp_path / "cifar10" / "test.npz", tmp_path / "cifar10" / "train.npz")
    with pytest.raises(DataError, match="copied over"):
        load_cifar10("train", tmp_path)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_silent_a_cifar10_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "the-payload-ran"
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((4, 3072), dtype=np.uint8), "labels": [1, 2, 3, 4], "x": _Payload(marker)}, f)
    with pytest.raises(DataError, match=r"test_batch is not a plain CIFAR-10 batch.*refused to load posix\.system") as info:
        load_cifar10("test", tmp_path, download=False)
    assert str(folder / "test_batch") in str(info.value)
    assert not marker.exists()


def _weights_copy(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    m = json.loads((WEIGHTS_DIR / "manifest.json").read_text())
    m["models"] = {"vae-mlp": m["models"]["vae-mlp"]}
    shutil.copy(WEIGHTS_DIR / m["models"]["vae-mlp"]["file"], folder / m["models"]["vae-mlp"]["file"])
    edit(m["models"]["vae-mlp"], folder)
    (folder / "manifest.json").write_text(json.dumps(m))
    return folder


def test_silent_an_edited_manifest_metric_fails_pretrained_verify_and_the_seed_numbers(tmp_path, capsys):
    from fundamentalml.shipping import verify

    folder = _weights_copy(tmp_path, lambda e, f: e["metrics"].__setitem__("neg_elbo", 80.0))
    with pytest.raises(ShippedWeightsError, match=r"metrics\.neg_elbo is 80\.0 but its weights file records 103\.18"):
        pretrained("vae-mlp", weights_dir=folder)
    with pytest.raises(ShippedWeightsError, match="edited"):
        runs.seed_results("vae-mlp", "neg_elbo", weights_dir=folder)
    assert verify(weights_dir=folder) is False
    assert "FAIL vae-mlp" in capsys.readouterr().out


def test_silent_a_swapped_weights_file_with_its_sha_updated_is_refused(tmp_path, empty_data_dir, fake_train):
    other = get_run("vae-mlp", "smoke", out=tmp_path / "other", data_dir=empty_data_dir, **QUIET).checkpoint

    def swap(entry, folder):
        shutil.copy(other, folder / entry["file"])
        entry["sha256"] = sha256_file(folder / entry["file"])

    folder = _weights_copy(tmp_path, swap)
    with pytest.raises(ShippedWeightsError, match="swapped"):
        pretrained("vae-mlp", weights_dir=folder)


@pytest.mark.parametrize("field", ["sha256", "file", "metrics"])
def test_silent_a_malformed_manifest_entry_names_the_field(field, tmp_path):
    folder = _weights_copy(tmp_path, lambda e, f: e.pop(field))
    with pytest.raises(ShippedWeightsError, match=f"has no '{field}' field"):
        pretrained("vae-mlp", weights_dir=folder)


def _int64_checkpoint(tmp_path: Path) -> Path:
    model = MLPVAE(latent_dim=2, hidden_dims=[8])
    payload = model.checkpoint_dict()
    payload["state_dict"] = {k: torch.zeros_like(v, dtype=torch.int64) for k, v in payload["state_dict"].items()}
    path = tmp_path / "int.pt"
    torch.save(payload, path)
    return path


API_CASES = [
    ("NaN latents to a VAE", lambda: MLPVAE().decode(torch.full((2, 20), float("nan"))), ValueError, "NaN or infinite"),
    ("NaN latents to a GAN", lambda: DCGAN().generate(torch.full((2, 100), float("nan"))), ValueError, "NaN or infinite"),
    ("0..255 images to the classifier", lambda: MNISTClassifier().predict(torch.rand(2, 1, 28, 28) * 255), ValueError, "divide by 255"),
    ("0..255 images to evaluate_classifier", lambda: metrics.evaluate_classifier(MNISTClassifier(), torch.rand(2, 1, 28, 28) * 255, torch.tensor([0, 1])), ValueError, "divide by 255"),
    ("0..255 images to evaluate_gan", lambda: metrics.evaluate_gan(DCGAN(), torch.rand(4, 3, 32, 32) * 255, n=4), ValueError, "divide by 255"),
    ("confusion with label 15", lambda: metrics.confusion([0, 15], [0, 1]), ValueError, r"0\.\.9, got values from 0 to 15"),
    ("labels 0..90", lambda: metrics.evaluate_classifier(MNISTClassifier(), torch.rand(91, 1, 28, 28), torch.arange(91)), ValueError, "from 0 to 90"),
    ("labels and images of other counts", lambda: metrics.evaluate_classifier(MNISTClassifier(), torch.rand(3, 1, 28, 28), torch.tensor([0, 1])), ValueError, "one label per image"),
    ("empty metric inputs", lambda: metrics.conditioning_accuracy([], []), ValueError, "empty"),
    ("the wrong model kind to a metric", lambda: metrics.evaluate_classifier(MLPVAE(), torch.rand(2, 1, 28, 28), torch.tensor([0, 1])), TypeError, r"predict\(\)"),
    ("float64 images", lambda: MLPVAE().reconstruct(torch.rand(2, 1, 28, 28, dtype=torch.float64)), TypeError, "float32"),
    ("half images", lambda: MNISTClassifier().predict(torch.rand(2, 1, 28, 28).half()), TypeError, "float32"),
    ("numpy images", lambda: MNISTClassifier().predict(np.zeros((2, 1, 28, 28), np.float32)), TypeError, "torch.from_numpy"),
    ("numpy latents", lambda: MLPVAE().decode(np.zeros((2, 20), np.float32)), TypeError, "torch.from_numpy"),
    ("a huge sample(n)", lambda: MLPVAE().sample(10**9), ValueError, "in one call"),
]


@pytest.mark.parametrize(("case", "call", "error", "message"), API_CASES, ids=[c[0] for c in API_CASES])
def test_silent_and_unclear_api_inputs_are_checked_at_the_boundary(case, call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_silent_a_checkpoint_with_integer_weights_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="wrong type"):
        load_checkpoint(_int64_checkpoint(tmp_path))


def test_unclear_integer_numpy_labels_are_accepted():
    model = ConditionalVAE()
    assert model.generate(np.array([1, 2]), 2, seed=0).shape == (4, 1, 28, 28)
    assert model.generate(np.int64(3), 1, seed=0).shape == (1, 1, 28, 28)
    with pytest.raises(TypeError, match="integers"):
        model.generate(np.array([1.5]), 1)
    assert metrics.confusion(np.array([0, 1]), np.array([0, 1])).trace() == 2


# ================================================================================================ UNCLEAR

CLI_REFUSALS = [
    (["train", "vae-mlp", "--model_args", '{"latent_dim": "big"}'], "whole number"),
    (["train", "vae-mlp", "--model_args", '[1, 2]'], None),
    (["train", "vae-mlp", "--devices", "0"], "at least 1"),
    (["train", "vae-mlp", "--devices", "-1"], "at least 1"),
    (["train", "vae-mlp", "--devices", "abc"], "not a device count"),
    (["train", "vae-mlp", "--devices", "cuda:0"], "not a device count"),
    (["train", "vae-mlp", "--strategy", "deepspeed"], "Lightning cannot run"),
    (["train", "vae-mlp", "--strategy", "no-such-strategy"], "Lightning cannot run"),
]
if not torch.cuda.is_available():
    CLI_REFUSALS += [(["train", "vae-mlp", "--accelerator", "gpu"], "Lightning cannot run"),
                     (["train", "vae-mlp", "--accelerator", "tpu"], "Lightning cannot run")]


@pytest.mark.parametrize(("args", "message"), CLI_REFUSALS, ids=[" ".join(a[2:]) for a, _ in CLI_REFUSALS])
def test_unclear_bad_requests_are_one_line_and_exit_2_before_training(args, message, tmp_path, capsys, fake_train):
    code, err = run_cli(args + ["--profile", "smoke", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "Traceback" not in err, err
    if message:
        assert message in err
    assert not fake_train and not (tmp_path / "o" / "vae-mlp.pt").exists()


def test_unclear_a_missing_tensorboard_is_named(tmp_path, capsys, fake_train, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("tensorboard") else real(name, *a))
    code, err = run_cli(["train", "vae-mlp", "--profile", "smoke", "--out", str(tmp_path / "o"), "--tensorboard", "true"], capsys)
    assert code == 2 and "pip install tensorboard" in err and not fake_train


@pytest.mark.parametrize(
    ("args", "message"),
    [(["train", "dcgan", "--model_args", '{"image_channels": 1}'], "leave image_channels at the default"),
     (["train", "cvae", "--model_args", '{"num_classes": 5}'], "use num_classes=10")],
)
def test_unclear_a_model_that_does_not_fit_its_data_is_refused_before_training(args, message, tmp_path, empty_data_dir, capsys, fake_train):
    code, err = run_cli(args + ["--profile", "smoke", "--out", str(tmp_path / "o"), "--data_dir", str(empty_data_dir)], capsys)
    assert code == 2 and message in err and not fake_train


def test_unclear_unexpected_errors_and_ctrl_c_are_one_line(tmp_path, capsys, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("something deep failed")

    monkeypatch.setattr(runs, "check_out_dir", boom)
    monkeypatch.setattr("fundamentalml.cli.check_out_dir", boom)
    code, err = run_cli(["train", "vae-mlp", "--profile", "smoke", "--out", str(tmp_path)], capsys)
    assert code == 2 and "RuntimeError: something deep failed" in err and "FUNDAMENTALML_DEBUG" in err and "Traceback" not in err

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("fundamentalml.cli.check_out_dir", interrupt)
    code, err = run_cli(["train", "vae-mlp", "--profile", "smoke", "--out", str(tmp_path)], capsys)
    assert code == 130 and "SIGINT" in err and "Traceback" not in err


def test_unclear_the_divergence_advice_names_real_flags():
    import inspect

    from fundamentalml import cli

    flags = set(inspect.signature(cli.train).parameters)
    spec = registry.get("vae-mlp")
    advice = training.divergence_advice(MLPVAE(), replace(spec.budget("smoke"), precision="bf16-mixed"))
    assert "--lr" not in advice.replace("\"lr\"", "")
    for flag in ("model_args", "precision", "batch_norm"):
        assert f"--{flag}" in advice and flag in flags


def test_unclear_divergence_in_the_first_epoch_says_the_weights_are_untrained(tmp_path, empty_data_dir, monkeypatch, capsys):
    spec = registry.get("vae-mlp")
    monkeypatch.setitem(spec.budgets, "smoke", replace(spec.budgets["smoke"], train_size=256, eval_size=64))
    real = MLPVAE.batch_loss
    monkeypatch.setattr(MLPVAE, "batch_loss", lambda self, batch: {k: v * float("nan") for k, v in real(self, batch).items()})
    code, err = run_cli(["train", "vae-mlp", "--profile", "smoke", "--out", str(tmp_path / "o"), "--data_dir",
                         str(empty_data_dir), "--progress_bar", "false"], capsys)
    assert code == 3 and "untrained initial weights" in err and "end of the last finished epoch" not in err
    assert "--model_args" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "vae-mlp.pt").exists() and (tmp_path / "o" / "vae-mlp.last-good.pt").exists()


def test_unclear_bf16_true_trains_and_evaluates(tmp_path, empty_data_dir, monkeypatch):
    spec = registry.get("vae-mlp")
    monkeypatch.setitem(spec.budgets, "smoke", replace(spec.budgets["smoke"], train_size=256, eval_size=64))
    run = get_run("vae-mlp", "smoke", out=tmp_path, data_dir=empty_data_dir, precision="bf16-true", **QUIET)
    assert run.metrics["neg_elbo"] > 0 and all(p.dtype == torch.float32 for p in run.model.parameters())
    assert json.loads((tmp_path / "vae-mlp.json").read_text())["metrics"]["neg_elbo"] == run.metrics["neg_elbo"]


def test_unclear_corrupt_or_odd_sized_mnist_files_are_named(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    idx_images(raw / "train-images-idx3-ubyte", np.zeros((10, 32, 32)))
    idx_labels(raw / "train-labels-idx1-ubyte", np.zeros(10))
    idx_images(raw / "t10k-images-idx3-ubyte", np.zeros((10, 28, 28)))
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01garbage")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte holds images of shape \(32, 32\), expected \(28, 28\)"):
        load_mnist("train", tmp_path, download=False)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.*truncated or corrupt"):
        load_mnist("test", tmp_path, download=False)


@pytest.mark.parametrize("kind", ["loop", "dangling"])
def test_unclear_a_symlink_loop_or_dangling_link_is_an_error_never_the_fallback(kind, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    link = raw / "train-images-idx3-ubyte"
    link.symlink_to(link if kind == "loop" else tmp_path / "nowhere")
    with pytest.raises(DataError, match="symlink") as info:
        load_mnist("train", tmp_path, download=False)
    assert str(link) in str(info.value)


def test_unclear_a_wrong_weights_folder_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNDAMENTALML_WEIGHTS", str(tmp_path / "no-such-folder"))
    with pytest.raises(ShippedWeightsError, match=r"no-such-folder, which does not exist"):
        pretrained("vae-mlp")

"""Training: loss falls, seeds reproduce, checkpoints are atomic and loaded safely."""

from __future__ import annotations

import ast
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from fundamentalml import registry
from fundamentalml.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from fundamentalml.metrics import Metrics, evaluate_vae
from fundamentalml.models import ConvVAE, LossModule, MLPVAE
from fundamentalml.profiles import Budget
from fundamentalml.reports import run_row
from fundamentalml.runs import get_run
from fundamentalml.training import (
    TrainingDiverged,
    denormal_share,
    flush_denormals,
    flush_denormals_enabled,
    set_flush_denormals,
)

QUIET = dict(progress_bar=False, print_epochs=False)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One smoke run of the MLP VAE on real MNIST, shared by several tests."""
    data = Path(os.environ.get("FUNDAMENTALML_DATA", ""))
    if not (data / "MNIST" / "raw").is_dir():
        pytest.skip("needs the real MNIST")
    out = tmp_path_factory.mktemp("smoke-run")
    return get_run("vae-mlp", "smoke", out=out, epochs=2, **QUIET)


def test_loss_falls_and_history_is_kept_per_epoch(smoke_run):
    h = smoke_run.history
    assert h["epoch"] == [1.0, 2.0]
    assert len(h["train_loss"]) == len(h["val_loss"]) == len(h["time_s"]) == 2
    assert h["train_loss"][1] < h["train_loss"][0]
    assert h["val_loss"][1] < h["val_loss"][0] < 300  # an untrained model sits near 545 nats
    assert h["time_s"][1] > h["time_s"][0] > 0
    for key in ("train_bce", "train_kl", "val_bce", "val_kl"):
        assert key in h


def test_run_row_has_the_seeds_quantitative_table(smoke_run):
    row = run_row(smoke_run)
    assert row["parameters"] == 973_624
    assert 0 < row["recon_mse"] < 0.1
    assert row["neg_elbo"] == pytest.approx(row["bce"] + row["kl"])
    assert row["train_time_s"] > 0 and row["epochs"] == 2
    assert row["final_val_loss"] == smoke_run.history["val_loss"][-1]


def test_weights_and_metrics_are_one_unit(smoke_run):
    """The metrics live inside the checkpoint; the JSON beside it names the checkpoint's sha256."""
    import json

    from fundamentalml.files import sha256_file

    payload = torch.load(smoke_run.checkpoint, weights_only=True)
    assert payload["meta"]["metrics"]["neg_elbo"] == smoke_run.metrics["neg_elbo"]
    sidecar = json.loads(smoke_run.checkpoint.with_suffix(".json").read_text())
    assert sidecar["checkpoint_sha256"] == sha256_file(smoke_run.checkpoint)


def test_checkpoint_round_trip_keeps_weights_history_and_meta(smoke_run):
    loaded = load_checkpoint(smoke_run.checkpoint, expected="vae-mlp")
    for (k, v), (k2, v2) in zip(smoke_run.model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert loaded.history == smoke_run.history
    # an epochs override keeps the profile's name and records the override
    assert loaded.checkpoint_meta["profile"] == "smoke" and loaded.checkpoint_meta["overrides"] == {"epochs": 2}
    x = smoke_run.test_set().images[:8].float() / 255
    torch.testing.assert_close(loaded.reconstruct(x), smoke_run.model.reconstruct(x))


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path, empty_data_dir):
    kwargs = dict(data_dir=empty_data_dir, out=tmp_path, retrain=True, **QUIET)
    with pytest.warns(UserWarning):
        a = get_run("vae-cnn", "smoke", seed=1, **kwargs)
        b = get_run("vae-cnn", "smoke", seed=1, **kwargs)
        c = get_run("vae-cnn", "smoke", seed=2, overwrite=True, **kwargs)  # another seed replaces a run only when asked
    assert a.history["train_loss"] == b.history["train_loss"]
    assert a.history["train_loss"] != c.history["train_loss"]
    assert a.metrics == b.metrics != c.metrics


def test_offline_fallback_trains_end_to_end(empty_data_dir, tmp_path):
    with pytest.warns(UserWarning, match="5,000-digit MNIST subset"):
        run = get_run("vae-mlp", "smoke", data_dir=empty_data_dir, out=tmp_path, **QUIET)
    assert run.meta["data_is_fallback"] and "OFFLINE FALLBACK" in run.meta["data"]
    assert run.history["val_loss"][0] < 545


def test_the_run_path_trains_once_then_loads(tmp_path, empty_data_dir):
    kwargs = dict(data_dir=empty_data_dir, **QUIET)
    with pytest.warns(UserWarning):
        first = get_run("vae-mlp", "smoke", model_kwargs={"latent_dim": 4}, **kwargs)
        second = get_run("vae-mlp", "smoke", model_kwargs={"latent_dim": 4}, **kwargs)
        other = get_run("vae-mlp", "smoke", model_kwargs={"latent_dim": 5}, **kwargs)
        in_out = get_run("vae-mlp", "smoke", model_kwargs={"latent_dim": 4}, out=tmp_path, **kwargs)
        again = get_run("vae-mlp", "smoke", model_kwargs={"latent_dim": 4}, out=tmp_path, **kwargs)
    assert first.source == "trained" and second.source == "loaded" and other.source == "trained"
    assert second.checkpoint == first.checkpoint != other.checkpoint
    assert second.history == first.history
    assert in_out.source == "trained" and again.source == "loaded" and again.checkpoint == tmp_path / "vae-mlp.pt"


def test_a_diverging_vae_keeps_the_good_checkpoint(tmp_path, empty_data_dir):
    """A learning rate of 1e6 makes the loss NaN within a few steps: nothing NaN is written, the good run stays."""
    with pytest.warns(UserWarning):
        good = get_run("vae-mlp", "smoke", data_dir=empty_data_dir, out=tmp_path, **QUIET)
        before = good.checkpoint.read_bytes()
        with pytest.raises(TrainingDiverged, match=r"diverged at step \d+ \(epoch 1, batch \d+\).*last-good.pt"):
            get_run("vae-mlp", "smoke", data_dir=empty_data_dir, out=tmp_path, retrain=True, overwrite=True,
                    model_kwargs={"lr": 1e6}, **QUIET)
    assert good.checkpoint.read_bytes() == before
    last_good = load_checkpoint(tmp_path / "vae-mlp.last-good.pt")
    assert all(torch.isfinite(p).all() for p in last_good.parameters())


def test_nan_weights_are_never_written_or_loaded(tmp_path):
    model = MLPVAE(latent_dim=3)
    with torch.no_grad():
        model.fc_mu.weight[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        save_checkpoint(model, tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()
    payload = MLPVAE(latent_dim=3).checkpoint_dict()
    payload["state_dict"]["fc_mu.weight"][0, 0] = float("inf")
    torch.save(payload, tmp_path / "forged.pt")
    with pytest.raises(CheckpointError, match="NaN or infinite weights"):
        load_checkpoint(tmp_path / "forged.pt")


REPO = Path(__file__).resolve().parents[1]
# Where model names must not be written: the package, the benchmark and the book's build extensions.
NAMELESS = ("fundamentalml", "benchmarks", "book/_ext")
REGISTRY_FILE = Path("fundamentalml") / "registry.py"
# The exercise checks are keyed by chapter, and a chapter is named by the registry's `chapter` field; the
# DCGAN chapter and the DCGAN model share the name "dcgan". In the exercises package a string that is a
# registered chapter's name is therefore read as a chapter key; anywhere else it is a model name.
CHAPTER_KEYED = Path("fundamentalml") / "exercises"


def docstring_nodes(tree: ast.AST) -> set[int]:
    """The ids of the nodes that are docstrings (a module's, a class's or a function's first statement)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def model_name_literals(root: Path, names: set[str], chapters: set[str]) -> list[str]:
    """Every string constant equal to a model name in the modules under ``root``'s :data:`NAMELESS` folders,
    outside the registry and docstrings, as ``path:line: 'name'``."""
    hits = []
    for folder in NAMELESS:
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root)
            if rel == REGISTRY_FILE:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(rel))
            docs = docstring_nodes(tree)
            chapter_keyed = CHAPTER_KEYED in rel.parents
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
                        and id(node) not in docs and not (chapter_keyed and node.value in chapters)):
                    hits.append(f"{rel}:{node.lineno}: {node.value!r}")
    return hits


def test_registry_is_the_one_place_models_are_named():
    for name, spec in registry.MODELS.items():
        assert spec.name == name and set(spec.budgets) == {"smoke", "cpu", "full"}
        assert registry.spec_of(spec.model_class) is spec
    with pytest.raises(ValueError, match="Unknown model 'vae-rnn'.*vae-mlp"):
        registry.get("vae-rnn")
    with pytest.raises(ValueError, match="takes no argument.*latnet_dim"):
        registry.get("vae-mlp").build(latnet_dim=3)
    names, chapters = set(registry.MODELS), {s.chapter for s in registry.MODELS.values()}
    assert names & chapters == {"dcgan"}, "a chapter and a model share a name: say so in CHAPTER_KEYED's comment"
    scanned = [p for f in NAMELESS for p in (REPO / f).rglob("*.py")]
    assert len(scanned) > 40 and (REPO / REGISTRY_FILE).is_file()
    assert model_name_literals(REPO, names, chapters) == []


def test_the_name_scan_finds_a_name_wherever_code_writes_it(tmp_path):
    """The scan itself: a name in code is found (in a call, a set, a default, an f-string part), a docstring is not."""
    module = tmp_path / "fundamentalml" / "cli.py"
    module.parent.mkdir()
    module.write_text('"""vae-mlp"""\n'
                      'def compare(first="vae-mlp"):\n'
                      '    """cvae"""\n'
                      '    return first in ({"cvae", "cgan"},) or f"vae-cnn{first}" == "dcgan"\n')
    exercise = tmp_path / "fundamentalml" / "exercises" / "checks.py"
    exercise.parent.mkdir()
    exercise.write_text('CHAPTER = "dcgan"\nJUDGE = "classifier"\n')
    hits = model_name_literals(tmp_path, set(registry.MODELS), {"dcgan", "vae"})
    assert sorted(hits) == ["fundamentalml/cli.py:2: 'vae-mlp'", "fundamentalml/cli.py:4: 'cgan'", "fundamentalml/cli.py:4: 'cvae'",
                            "fundamentalml/cli.py:4: 'dcgan'", "fundamentalml/cli.py:4: 'vae-cnn'",
                            "fundamentalml/exercises/checks.py:2: 'classifier'"]


def test_the_tolerances_are_one_table():
    """Each entry's headline tolerances; the Fréchet distance's are fractions of the value, the rest absolute."""
    vae, dcgan = registry.get("vae-mlp").tolerance, registry.get("dcgan").tolerance
    assert vae.close("recompute", 100.0, 100.09) and not vae.close("recompute", 100.0, 100.11)
    assert dcgan.relative and dcgan.close("reproduce", 40.0, 49.9) and not dcgan.close("reproduce", 40.0, 50.1)
    assert dcgan.allowed("half", 40.0) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="unknown tolerance 'seed'"):
        vae.allowed("seed", 1.0)
    for spec in registry.MODELS.values():
        t = spec.tolerance
        assert 0 < t.recompute <= t.reproduce and 0 < t.half <= t.reproduce, spec.name


class ToyAutoencoder(LossModule):
    """The throwaway model: a one-layer autoencoder of MNIST digits (a few thousand weights)."""

    def __init__(self, code: int = 4, lr: float = 1e-2) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.lr = lr
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, code), torch.nn.Linear(code, 784))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x)).view_as(x)

    def batch_loss(self, batch):
        x = batch[0]
        return {"loss": torch.nn.functional.mse_loss(self(x), x)}

    def make_optimizers(self, total_steps=None):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


@dataclass
class ToyMetrics(Metrics):
    recon_mse: float
    n_images: int


def _evaluate_toy(model, test, judge=None, seed: int = 0) -> ToyMetrics:
    x = test.images[:2000].float().div(255)
    with torch.no_grad():
        return ToyMetrics(torch.nn.functional.mse_loss(model(x), x).item(), len(x))


def _toy_spec(name: str, epochs: int) -> registry.ModelSpec:
    budget = Budget(epochs=epochs, batch_size=64, train_size=512, lr=1e-2, eval_size=500)
    return registry.ModelSpec(
        name=name, title=name.replace("-", " "), model_class=ToyAutoencoder, dataset="mnist", value_range="unit",
        budgets={"smoke": budget, "cpu": budget, "full": budget}, evaluate=_evaluate_toy, headline="recon_mse",
        tolerance=registry.Tolerance(recompute=1e-3, half=1e-3, reproduce=1e-2, precision=1e-2), chapter="toy", compare_group="toy",
        val_size=256,
    )


def test_a_new_model_is_one_class_and_one_registry_entry(monkeypatch, tmp_path, capsys):
    """A throwaway model registered in a test trains, saves, loads by name, is listed, is a CLI choice and a
    compare partner; and a second entry of the same class stays a separate model (checkpoints keep the name)."""
    from fundamentalml.checkpoints import read_checkpoint
    from fundamentalml.cli import main
    from fundamentalml.runs import load_run

    monkeypatch.setitem(registry.MODELS, "toy-ae", _toy_spec("toy-ae", epochs=1))
    monkeypatch.setitem(registry.MODELS, "toy-ae-long", _toy_spec("toy-ae-long", epochs=2))  # the same class
    out = tmp_path / "runs"
    run = get_run("toy-ae", "smoke", out=out, **QUIET)
    longer = get_run("toy-ae-long", "smoke", out=out, **QUIET)
    assert run.source == longer.source == "trained" and isinstance(run.model, ToyAutoencoder)
    assert len(run.history["train_loss"]) == 1 and len(longer.history["train_loss"]) == 2
    torch.manual_seed(0)
    untrained = _evaluate_toy(ToyAutoencoder(), run.datamodule().eval_set())
    assert 0 < run.metrics["recon_mse"] < untrained.recon_mse  # it learned, and the registry's evaluation measured it
    assert read_checkpoint(out / "toy-ae.pt")["name"] == "toy-ae"
    again = get_run("toy-ae", "smoke", out=out, **QUIET)
    assert again.source == "loaded" and again.history == run.history
    assert load_run(out / "toy-ae-long.pt").name == "toy-ae-long"  # its class alone would not say which
    with pytest.raises(CheckpointError, match="holds a toy-ae-long .*not the toy-ae"):
        load_checkpoint(out / "toy-ae-long.pt", expected="toy-ae")
    with pytest.raises(ValueError, match="several registry entries"):
        registry.spec_of(ToyAutoencoder)
    payload = read_checkpoint(out / "toy-ae.pt")
    del payload["name"]  # as written before checkpoints kept the registry name (the shipped weights)
    torch.save(payload, out / "old.pt")
    with pytest.raises(CheckpointError, match="class of toy-ae, toy-ae-long, and does not say which"):
        load_checkpoint(out / "old.pt")
    assert type(load_checkpoint(out / "old.pt", expected="toy-ae")) is ToyAutoencoder

    main(["models"])
    listing = capsys.readouterr().out
    assert "| toy-ae | toy ae | ToyAutoencoder | mnist | toy | toy-ae-long | no |" in listing
    assert registry.compare_groups()["toy"] == ("toy-ae", "toy-ae-long")
    main(["compare", "toy-ae", "toy-ae-long", "--profile", "smoke", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "| metric | toy ae | toy ae long |" in printed  # both runs loaded from OUT: nothing trained
    with pytest.raises(ValueError, match="compare takes two or more different models of one group.*toy: toy-ae toy-ae-long"):
        registry.check_comparable(["toy-ae", "vae-mlp"])


# ------------------------------------------------------------------------------------------ checkpoints


def test_a_failed_save_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    path = save_checkpoint(MLPVAE(latent_dim=3), tmp_path / "model.pt")
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(MLPVAE(latent_dim=4), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left behind


def test_truncated_checkpoint_gets_a_clear_error(tmp_path):
    path = save_checkpoint(MLPVAE(), tmp_path / "model.pt")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a readable checkpoint.*delete it and train again"):
        load_checkpoint(path)


def test_foreign_checkpoints_are_refused(tmp_path):
    lightning_like = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": MLPVAE().state_dict(), "epoch": 3}, lightning_like)
    with pytest.raises(CheckpointError, match="not a FundamentalML checkpoint"):
        load_checkpoint(lightning_like)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="No checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


def test_pickled_code_is_never_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pt"
    torch.save({"format": "fundamentalml-checkpoint/1", "payload": Evil()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_loading_one_model_as_another_is_refused(tmp_path):
    path = save_checkpoint(ConvVAE(), tmp_path / "cnn.pt")
    with pytest.raises(CheckpointError, match="holds a vae-cnn .* not the vae-mlp"):
        load_checkpoint(path, expected="vae-mlp")
    assert isinstance(load_checkpoint(path, expected=ConvVAE), ConvVAE)


def test_weights_that_do_not_fit_are_reported(tmp_path):
    path = save_checkpoint(MLPVAE(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["hparams"]["latent_dim"] = 7
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not fit a MLPVAE"):
        load_checkpoint(path)


def test_flush_denormals_reaches_every_intra_op_thread():
    """torch.set_flush_denormal sets the calling thread only: with 2 threads half of a parallel product stayed
    subnormal (slow microcode on x86). flush_denormals() flushes on every thread, and restores all of them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert set_flush_denormals(False) and denormal_share() == 1.0
        torch.set_flush_denormal(True)  # torch's own switch, after the thread pool started: one thread of two
        assert 0.0 < denormal_share() < 1.0
        with flush_denormals():
            assert denormal_share() == 0.0  # every thread flushes
        assert denormal_share() == 0.0  # the caller's setting (this thread's: on) is now every thread's
        assert set_flush_denormals(False) and denormal_share() == 1.0
    finally:
        set_flush_denormals(False)
        torch.set_num_threads(threads)


def test_flush_denormals_is_scoped():
    torch.set_flush_denormal(False)
    assert not flush_denormals_enabled()
    with flush_denormals():
        assert flush_denormals_enabled()
        assert (torch.tensor([1e-40]) * 1.0).item() == 0.0
    assert not flush_denormals_enabled()
    assert (torch.tensor([1e-40]) * 1.0).item() != 0.0

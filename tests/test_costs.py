"""What training costs: the manifest's per-precision costs, the bf16 quality check, and the table a page shows."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace

import pytest

from fundamentalml import registry
from fundamentalml.cards import _duration, cost_table
from fundamentalml.runs import MANIFEST_NAME, WEIGHTS_DIR, get_run, manifest
from fundamentalml.shipping import cost_key, record_cost


def _weights(tmp_path, name="vae-mlp"):
    weights = tmp_path / "weights"
    weights.mkdir()
    shipped = manifest()
    for entry in shipped["models"].values():
        entry.pop("costs", None)
    (weights / MANIFEST_NAME).write_text(json.dumps(shipped))
    shutil.copy(WEIGHTS_DIR / f"{name}.pt", weights / f"{name}.pt")
    return weights


def _row(table: str, title: str) -> list[str]:
    line = next(l for l in table.splitlines() if l.startswith(f"| {title} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_the_table_puts_each_cost_under_its_precision_and_device(tmp_path):
    weights = _weights(tmp_path)
    data = json.loads((weights / MANIFEST_NAME).read_text())
    entry = data["models"]["vae-mlp"]
    fp32_epoch = (entry["history"]["time_s"][-1] - entry["history"]["time_s"][-2])  # any positive number will do
    entry["history"]["time_s"] = [fp32_epoch * (i + 1) for i in range(10)]  # every epoch the same: median = fp32_epoch
    bf16 = {"precision": "bf16-mixed", "machine": "AMD EPYC, 2 cores, AVX512", "median_epoch_s": fp32_epoch * 0.7,
            "train_time_s": 1.0, "load_average": [0.5, 0.4, 0.3], "holds": True, "note": "a busy machine",
            "headline": {"neg_elbo": 103.2, "shipped": 103.18, "difference": 0.02}}
    gpu = {**bf16, "machine": "x; GPU NVIDIA H200", "median_epoch_s": 1.5, "holds": True, "note": ""}
    entry["costs"] = {cost_key(bf16): bf16, cost_key(gpu): gpu}
    assert set(entry["costs"]) == {"cpu bf16-mixed", "gpu bf16-mixed"}
    (weights / MANIFEST_NAME).write_text(json.dumps(data))
    table = cost_table(manifest(weights))
    row = _row(table, "MLP VAE")
    assert row[1] == "10" and row[4] == ""  # no ratio: the shipped fp32 run's load is not known
    entry["costs"]["cpu 32-true"] = {"precision": "32-true", "machine": bf16["machine"], "median_epoch_s": fp32_epoch,
                                     "train_time_s": 1.0, "load_average": [0.5, 0.4, 0.3], "note": "a busy machine"}
    (weights / MANIFEST_NAME).write_text(json.dumps(data))
    table = cost_table(manifest(weights))
    row = _row(table, "MLP VAE")
    assert row[4] == "0.70"  # bf16 / fp32 from the median epochs, both loads known
    assert row[2].endswith("[1]") and table.count("a busy machine") == 1  # one footnote per distinct note
    assert "(load 0.3)" in row[3] and row[5] == "holds (+0.020 nats)" and row[7].startswith("bf16-mixed: 15 s")
    assert _row(table, "CNN VAE")[3] == "not measured"  # nothing recorded: said so, not left blank
    assert "(load 0.3) [1]" in row[3] and "[1] a busy machine" in table  # a cost's note, as a footnote
    assert "CPU: AMD EPYC, 2 cores, AVX512." in table  # the CPU the times were measured on
    assert row[6] == "not measured" and "CPU with AMX:" not in table  # no AMX time: said so, and no AMX sentence


def test_a_cpu_with_amx_is_a_device_of_its_own(tmp_path, monkeypatch):
    """Times from a CPU with AMX (its machine line ends in "AMX") go to their own column and sentence: never into
    the reference CPU's columns, its bf16/fp32 ratio or its whole-course sum. An AMX time counts towards the AMX
    sum at a precision whose quality held: by the AMX machine's own check where it has one, else the reference
    CPU's."""
    from fundamentalml import reports, runs

    assert cost_key({"machine": "Intel(R) Xeon(R) Processor, 2 cores, AVX512, AMX", "precision": "bf16-mixed"}) == "amx bf16-mixed"
    assert cost_key({"machine": "Intel(R) Xeon(R) Processor, 2 cores, AVX512", "precision": "bf16-mixed"}) == "cpu bf16-mixed"
    assert cost_key({"machine": "Xeon, 2 cores, AVX512, AMX; GPU NVIDIA H200", "precision": "32-true"}) == "gpu 32-true"
    weights = _weights(tmp_path)
    data = json.loads((weights / MANIFEST_NAME).read_text())
    xeon = "Intel(R) Xeon(R) Processor, 2 cores, AVX512, AMX"
    for name, entry in data["models"].items():
        epochs = registry.get(name).budget("full").epochs
        entry.pop("history", None)
        entry["train_time_s"] = 600.0
        entry["budget"]["precision"] = "bf16-mixed"  # shipped at bf16; an fp32 run is allowed where its check held
        fp32 = {"precision": "32-true", "machine": "AMD EPYC, 2 cores, AVX512", "median_epoch_s": 600.0 / epochs,
                "load_average": [2.0] * 3, "holds": name != "cvae", "headline": {"difference": 0.0}}
        bf16 = {**fp32, "precision": "bf16-mixed", "median_epoch_s": 300.0 / epochs}
        bf16.pop("holds")
        on_amx = {**bf16, "machine": xeon, "median_epoch_s": 60.0 / epochs, "note": "an AMX machine"}
        # The fastest of all: allowed by the reference CPU's check (failed for the cVAE), except where the AMX
        # machine's own check says otherwise (the CNN VAE's failed there).
        amx_fp32 = {**fp32, "machine": xeon, "median_epoch_s": 30.0 / epochs}
        amx_fp32.pop("holds")
        if name == "vae-cnn":
            amx_fp32.update(holds=False, headline={"difference": 0.9, "precision_difference": 0.5})
        entry["costs"] = {cost_key(c): c for c in (fp32, bf16, on_amx, amx_fp32)}
    (weights / MANIFEST_NAME).write_text(json.dumps(data))
    table = cost_table(manifest(weights))
    header = next(l for l in table.splitlines() if l.startswith("| model"))
    assert [c.strip() for c in header.strip("|").split("|")][6] == "CPU with AMX"
    row = _row(table, registry.get("vae-mlp").title + " (shipped run: bf16-mixed)")
    assert row[2].startswith("10 min") and row[3].startswith("5 min") and row[4] == "0.50"  # the reference CPU only
    assert row[6].startswith("32-true: 30 s") and "bf16-mixed: 60 s (load 2.0) [" in row[6]
    assert f"CPU with AMX: {xeon}." in table and "CPU: AMD EPYC, 2 cores, AVX512." in table
    lines = {l.split(" in turn on ")[1].split(",")[0]: l for l in table.splitlines() if " in turn on " in l}
    n = len(data["models"])
    assert f"**{round(n * 300 / 60)} min**" in lines["the CPU"]  # bf16 on the reference CPU for all
    amx_total = (n - 2) * 30 + 2 * 60  # the cVAE and the CNN VAE at bf16 on AMX, the others at fp32
    cnn = _row(table, registry.get("vae-cnn").title + " (shipped run: bf16-mixed)")
    assert cnn[6].startswith("32-true: 30 s") and "bf16 quality does not hold (-0.500 nats)" in cnn[6]  # bf16 - fp32
    assert f"**{_duration(amx_total)}**" in lines["the CPU with AMX"]
    monkeypatch.setattr(runs, "manifest", lambda *args, **kwargs: data)  # what the chapter's cost box reads
    line = reports._cost_line("MLP VAE", "vae-mlp")
    assert f"full ~{reports._minutes(600.0)} at fp32 or ~{reports._minutes(300.0)} at bf16 (on a CPU with AMX, " in line
    assert line.endswith(f"~{reports._minutes(30.0)} at fp32 or ~{reports._minutes(60.0)} at bf16)")


def test_a_cost_is_recorded_only_beside_the_shipped_runs_configuration(tmp_path, data_dir, monkeypatch):
    weights = _weights(tmp_path)
    spec = registry.get("vae-mlp")
    get_run("vae-mlp", "smoke", out=tmp_path / "smoke", data_dir=data_dir, evaluate=False, progress_bar=False)
    with pytest.raises(ValueError, match="not the shipped run's configuration"):
        record_cost("vae-mlp", tmp_path / "smoke", weights_dir=weights)
    with pytest.raises(ValueError, match="no shipped weights"):
        record_cost("vae-mlp", tmp_path / "smoke", weights_dir=tmp_path / "empty")
    # The shipped run's configuration, made tiny: the same budget in the manifest and the registry.
    tiny = replace(spec.budgets["full"], epochs=1, train_size=256, eval_size=256)
    monkeypatch.setitem(spec.budgets, "full", tiny)
    data = json.loads((weights / MANIFEST_NAME).read_text())
    data["models"]["vae-mlp"]["budget"] = tiny.to_dict()
    (weights / MANIFEST_NAME).write_text(json.dumps(data))
    from fundamentalml import training

    real = training.provenance  # recorded as if on the shipped run's kind of CPU, whatever this machine is
    monkeypatch.setattr(training, "provenance", lambda: {**real(), "machine": data["models"]["vae-mlp"]["machine"]})
    get_run("vae-mlp", "full", out=tmp_path / "bf16", data_dir=data_dir, precision="bf16-mixed", progress_bar=False)
    current = record_cost("vae-mlp", tmp_path / "bf16", weights_dir=weights, note="test")
    cost = current["models"]["vae-mlp"]["costs"]["cpu bf16-mixed"]
    assert cost["precision"] == "bf16-mixed" and cost["epochs"] == 1 and cost["note"] == "test"
    assert cost["train_time_s"] > 0 and len(cost["load_average"]) == 3
    shipped = data["models"]["vae-mlp"]["metrics"]["neg_elbo"]
    assert cost["headline"]["shipped"] == shipped and cost["headline"]["difference"] > 0.2  # one tiny epoch: worse
    assert cost["holds"] is False  # so bf16 would not be allowed on this evidence
    assert manifest(weights)["models"]["vae-mlp"]["costs"] == current["models"]["vae-mlp"]["costs"]


def test_a_precision_check_on_another_cpu_is_against_that_cpus_own_run(tmp_path, data_dir, monkeypatch):
    """A bf16 run on a CPU with AMX is checked against an fp32 run of the same machine class, recorded first
    (another CPU's rounding moves a run as far as another seed); without one it is not checked at all."""
    from fundamentalml import training

    weights = _weights(tmp_path)
    spec = registry.get("vae-mlp")
    tiny = replace(spec.budgets["full"], epochs=1, train_size=256, eval_size=256)
    monkeypatch.setitem(spec.budgets, "full", tiny)
    data = json.loads((weights / MANIFEST_NAME).read_text())
    data["models"]["vae-mlp"]["budget"] = {**tiny.to_dict(), "precision": "32-true"}  # shipped at fp32
    (weights / MANIFEST_NAME).write_text(json.dumps(data))
    real = training.provenance
    monkeypatch.setattr(training, "provenance", lambda: {**real(), "machine": "Intel(R) Xeon(R), 2 cores, AVX512, AMX"})
    for precision in ("32-true", "bf16-mixed"):
        get_run("vae-mlp", "full", out=tmp_path / precision, data_dir=data_dir, precision=precision, progress_bar=False)
    alone = record_cost("vae-mlp", tmp_path / "bf16-mixed", weights_dir=weights)["models"]["vae-mlp"]["costs"]
    shipped = data["models"]["vae-mlp"]["metrics"]["neg_elbo"]
    head = alone["amx bf16-mixed"]["headline"]  # no AMX fp32 run yet: not checked (not against the shipped run)
    assert head["checked_against"] is None and "holds" not in alone["amx bf16-mixed"] and "precision_difference" not in head
    assert head["difference"] == pytest.approx(head["neg_elbo"] - shipped)
    record_cost("vae-mlp", tmp_path / "32-true", weights_dir=weights)
    costs = record_cost("vae-mlp", tmp_path / "bf16-mixed", weights_dir=weights)["models"]["vae-mlp"]["costs"]
    fp32, bf16 = costs["amx 32-true"]["headline"], costs["amx bf16-mixed"]["headline"]
    assert "holds" not in costs["amx 32-true"]  # the shipped precision: nothing to check
    assert bf16["checked_against"] == "amx 32-true"
    assert bf16["precision_difference"] == pytest.approx(bf16["neg_elbo"] - fp32["neg_elbo"])
    assert bf16["difference"] == pytest.approx(bf16["neg_elbo"] - shipped)  # still beside the shipped run too
    assert costs["amx bf16-mixed"]["holds"] == (abs(bf16["precision_difference"]) <= spec.tolerance.precision)


def test_reproduce_records_each_retrains_cost(tmp_path, data_dir, monkeypatch):
    """reproduce ships each retrain and records its wall time, machine and load beside it (its own precision)."""
    from fundamentalml.shipping import reproduce

    weights = _weights(tmp_path)
    spec = registry.get("vae-mlp")
    monkeypatch.setitem(spec.budgets, "full", replace(spec.budgets["full"], epochs=1, train_size=256, eval_size=256))
    current = reproduce(tmp_path / "runs", ["vae-mlp"], data_dir=data_dir, weights_dir=weights)
    entry = current["models"]["vae-mlp"]
    (key, cost), = entry["costs"].items()
    assert key == cost_key(cost) and cost["precision"] == entry["budget"]["precision"]
    assert cost["epochs"] == 1 and cost["train_time_s"] > 0 and len(cost["load_average"]) == 3
    assert cost["headline"]["difference"] == 0.0 and "holds" not in cost  # the shipped run itself: nothing to check


def test_the_whole_course_is_the_sum_of_each_models_fastest_cpu_time_that_holds(tmp_path):
    """The sentence under the table: each model at its fastest CPU precision whose quality holds, summed; a bf16
    run that failed its check, or a GPU time, never counts; a model with no CPU time makes the sum unknown."""
    weights = _weights(tmp_path)
    data = json.loads((weights / MANIFEST_NAME).read_text())
    expected = 0.0
    for name, entry in data["models"].items():
        epochs = registry.get(name).budget("full").epochs
        entry.pop("history", None)  # no epoch times: a run counts as its whole training time
        entry["train_time_s"] = 600.0
        shipped = entry["budget"]["precision"]
        other = "bf16-mixed" if shipped == "32-true" else "32-true"
        faster = {"precision": other, "machine": "AMD EPYC, 2 cores, AVX512", "median_epoch_s": 30.0 / epochs,
                  "load_average": [1.0, 1.0, 1.0], "holds": name != "cvae",  # the cVAE's faster run fails
                  "headline": {"difference": 0.0}}
        gpu = {**faster, "machine": "x; GPU NVIDIA H200", "median_epoch_s": 1.0 / epochs, "holds": True}
        entry["costs"] = {cost_key(faster): faster, cost_key(gpu): gpu}
        expected += 600.0 if name == "cvae" else 30.0
    (weights / MANIFEST_NAME).write_text(json.dumps(data))
    sentence = next(l for l in cost_table(manifest(weights)).splitlines() if l.startswith("Retraining"))
    minutes = round(expected / 60)
    assert f"**{minutes} min**" in sentence and f"all {len(data['models'])} in turn" in sentence
    cvae = registry.get("cvae").title
    assert re.search(rf"fp32 for [^;)]*\b{cvae}\b", sentence)  # its bf16 run did not hold: it trains at fp32
    assert not re.search(rf"bf16 for [^;)]*\b{cvae}\b", sentence)
    data["models"]["vae-cnn"].pop("train_time_s")
    data["models"]["vae-cnn"]["costs"] = {}
    (weights / MANIFEST_NAME).write_text(json.dumps(data))
    sentence = next(l for l in cost_table(manifest(weights)).splitlines() if l.startswith("Retraining"))
    assert "not known" in sentence and registry.get("vae-cnn").title in sentence


def test_a_chapters_cost_box_gives_full_at_each_measured_precision(tmp_path, monkeypatch):
    """The box at the top of a chapter: smoke and cpu scaled from an fp32 run (they train at fp32), full at each
    CPU precision measured (a recorded run before the shipped run's own), never a GPU's time."""
    from fundamentalml import reports, runs

    data = json.loads((_weights(tmp_path) / MANIFEST_NAME).read_text())
    entry = data["models"]["vae-mlp"]
    images, epochs = int(entry["train_images"]), registry.get("vae-mlp").budget("full").epochs
    entry["history"]["time_s"] = [6.0 * (i + 1) for i in range(epochs)]  # fp32: 6 s an epoch
    cpu = {"precision": "bf16-mixed", "machine": "AMD EPYC, 2 cores", "median_epoch_s": 3.0, "load_average": [1, 1, 1]}
    gpu = {**cpu, "machine": "x; GPU NVIDIA H200", "median_epoch_s": 0.01}
    entry["costs"] = {cost_key(cpu): cpu, cost_key(gpu): gpu}
    monkeypatch.setattr(runs, "manifest", lambda *args, **kwargs: data)
    line = reports._cost_line("MLP VAE", "vae-mlp")
    smoke = registry.get("vae-mlp").budget("smoke")
    assert f"smoke {reports._about(6.0 / images * smoke.train_size * smoke.epochs)}," in line
    assert line.endswith(f"full ~{reports._minutes(6.0 * epochs)} at fp32 or ~{reports._minutes(3.0 * epochs)} at bf16")
    assert reports._about(0.2) == "under 1 s" and reports._about(48.0) == "~48 s"  # never "~0 s"
    # Only a bf16 run measured (the DCGAN's case): smoke and cpu say what they were scaled from.
    entry["budget"]["precision"] = "bf16-mixed"
    entry["costs"] = {}
    line = reports._cost_line("MLP VAE", "vae-mlp")
    assert "smoke " in line and "(scaled from a bf16 run)" in line and " at fp32" not in line


def test_the_quality_column_is_bf16_minus_fp32_whichever_run_shipped(tmp_path):
    """A shipped bf16 run (the DCGAN's) with an fp32 run recorded beside it: the recorded difference is fp32 minus
    bf16, and the column, bf16 minus fp32, shows it with the sign turned round."""
    weights = _weights(tmp_path)
    data = json.loads((weights / MANIFEST_NAME).read_text())
    entry = data["models"]["dcgan"]
    assert entry["budget"]["precision"] == "bf16-mixed"
    fp32 = {"precision": "32-true", "machine": "AMD EPYC, 2 cores, AVX512", "median_epoch_s": 120.0,
            "load_average": [2.0, 2.0, 2.0], "holds": True,
            "headline": {"frechet_distance": 0.031, "shipped": 0.036, "difference": -0.005}}
    entry["costs"] = {cost_key(fp32): fp32}
    (weights / MANIFEST_NAME).write_text(json.dumps(data))
    row = _row(cost_table(manifest(weights)), registry.get("dcgan").title + " (shipped run: bf16-mixed)")
    assert row[5].startswith("holds (+0.005")  # bf16's distance is the larger one: a positive difference

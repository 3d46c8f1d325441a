"""The sentences chapters print from recorded numbers: they follow the numbers, including edge cases."""

from __future__ import annotations

import pytest

from fundamentalml.reports import quality_progress


def _per_epoch(fd: list[float], floor: float, acc: list[float] | None = None) -> dict:
    out = {"epoch": list(range(len(fd))), "frechet_distance": fd, "floor_frechet_distance": floor,
           "ceiling_frechet_distance": fd[0]}
    if acc is not None:
        out["conditioning_accuracy"] = acc
    return out


def test_progress_reports_the_ratio_to_the_floor_and_the_best_epoch() -> None:
    text = quality_progress(_per_epoch([100.0, 40.0, 20.0, 30.0], floor=10.0))
    assert "From 100.00 (untrained) to 30.00 after epoch 3: 3.00 times the floor of 10.00" in text
    assert "The best epoch is 2, at 20.00 (2.00 times the floor); the last epoch is 1.5 times the best" in text
    assert "gap" not in text and "Conditioning" not in text


def test_progress_under_the_floor_is_not_called_better_than_real() -> None:
    text = quality_progress(_per_epoch([50.0, 12.0, 9.0, 9.5], floor=10.0, acc=[0.1, 0.5, 0.95, 0.97]))
    assert "Epochs under the floor: 2, 3" in text
    assert "noise, not better than real" in text and "cannot be told" not in text
    assert "from 10.0% (chance is 10%) to 97.0%, first reaching 90% after epoch 2" in text


def test_progress_takes_a_held_out_floor() -> None:
    text = quality_progress(_per_epoch([50.0, 12.0, 9.0, 9.5], floor=10.0), floor=5.0, floor_source="held-out digits")
    assert "1.90 times the floor of 5.00 (held-out digits)" in text and "under the floor" not in text
    with pytest.raises(ValueError, match="positive"):
        quality_progress(_per_epoch([50.0, 12.0], floor=10.0), floor=0.0)


def test_small_distances_keep_three_significant_digits() -> None:
    text = quality_progress(_per_epoch([18.4, 0.0364], floor=0.00764))
    assert "to 0.0364 after epoch 1" in text and "floor of 0.00764" in text


def test_progress_without_numbers_is_refused() -> None:
    with pytest.raises(ValueError, match="keep_epochs"):
        quality_progress({})


def test_seed_verdict_reads_separation_overlap_and_reversal() -> None:
    from fundamentalml.reports import mean_spread, seed_verdict

    held = seed_verdict({0: 102.6, 1: 102.9, 2: 102.4}, {0: 103.2, 1: 103.5, 2: 103.0})
    assert held.verdict == "holds" and held.chance == pytest.approx(1 / 20)
    assert held.difference == pytest.approx((103.2 + 103.5 + 103.0 - 102.6 - 102.9 - 102.4) / 3)
    assert seed_verdict([1.0, 3.0], [2.0, 4.0]).verdict == "within noise"
    assert seed_verdict([5.0, 6.0, 7.0], [1.0, 2.0]).verdict == "does not hold"
    assert seed_verdict([1.0], [2.0]).chance == pytest.approx(1 / 2)
    assert mean_spread([1.0, 2.0, 3.0]) == "2.00 ± 1.00 (3 seeds)"
    assert mean_spread([0.5], "{:.1f}") == "0.5 (1 seed)"
    with pytest.raises(ValueError):
        seed_verdict([], [1.0])


def test_median_epoch_ignores_a_paused_epoch_and_scales_the_costs() -> None:
    from fundamentalml.shipping import median_epoch_seconds

    # epochs of 100, 100, 700 (a pause), 100 s: cumulative times as the history stores them
    assert median_epoch_seconds({"history": {"time_s": [100.0, 200.0, 900.0, 1000.0]}}) == 100.0
    assert median_epoch_seconds({"history": {"time_s": [10.0, 30.0, 60.0]}}) == 20.0
    assert median_epoch_seconds({"history": {}}) is None


class _Set:
    def __init__(self, files, is_fallback=False, source="x"):
        self.files, self.is_fallback, self.source = files, is_fallback, source


def test_data_mismatch_names_substitutes_and_changed_files(tmp_path) -> None:
    from fundamentalml.files import sha256_file
    from fundamentalml.reports import data_mismatch

    a, b = tmp_path / "train.npz", tmp_path / "test.npz"
    a.write_bytes(b"train"), b.write_bytes(b"test")
    meta = {"data_identity": {"files": {f.name: {"sha256": sha256_file(f)} for f in (a, b)}}}
    assert data_mismatch(meta, _Set([b]), _Set([a])) is None
    a.write_bytes(b"other pixels")
    assert "other contents than the model's: train.npz" in data_mismatch(meta, _Set([b]), _Set([a]))
    assert "did not train on: extra.bin" in data_mismatch(meta, _Set([tmp_path / "extra.bin"]))
    assert "SUBSTITUTE" in data_mismatch(meta, _Set([b], is_fallback=True, source="digits"))


def test_the_provenance_box_names_command_commit_machine_precision_and_wall_time() -> None:
    from fundamentalml.reports import page_note
    from fundamentalml.runs import pretrained

    run = pretrained("dcgan")
    html = page_note({"DCGAN": run})
    precision = run.meta["budget"]["precision"]
    for part in ("train dcgan", f"at commit <code>{run.meta['commit'][:10]}", run.meta["machine"],
                 f"precision <code>{precision}</code>", "of wall time", "median epoch"):
        assert part in html, part
    assert "SIGSTOP" not in html and "Note:" not in html

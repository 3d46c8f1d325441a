"""More than one device: Lightning DDP in two CPU processes (gloo) trains one model into one checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses importing torch: minutes; plain `pytest` leaves it out, `pytest --all` (CI) runs it

SCRIPT = textwrap.dedent(
    """
    import hashlib, json, os, sys
    import torch
    from pytorch_lightning.callbacks import Callback
    from dataclasses import replace
    from fundamentalml import registry
    from fundamentalml.runs import get_run

    out = sys.argv[1]

    class RecordBatches(Callback):
        # Write down a fingerprint of every image each rank trains on (a hash of its bytes: pixel sums collide).
        def __init__(self):
            self.seen = []
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            x, y = batch
            self.seen.append([hashlib.sha1(img.contiguous().numpy().tobytes()).hexdigest() for img in x])
        def on_train_end(self, trainer, module):
            with open(os.path.join(out, f"rank{trainer.global_rank}.json"), "w") as f:
                json.dump({"rank": trainer.global_rank, "world": trainer.world_size, "seen": self.seen}, f)

    spec = registry.get("vae-mlp")
    spec.budgets["smoke"] = replace(spec.budgets["smoke"], train_size=512, batch_size=64)
    get_run(
        "vae-mlp", "smoke", out=out, progress_bar=False, print_epochs=False, evaluate=False,
        trainer_kwargs=dict(accelerator="cpu", devices=2, strategy="ddp", callbacks=[RecordBatches()]),
    )
    """
)


@pytest.mark.timeout(600)
def test_two_process_ddp_sees_different_data_and_writes_one_checkpoint(tmp_path, data_dir):
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PL_DISABLE_FORK": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, env=env, timeout=540, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    seen = [{v for batch in r["seen"] for v in batch} for r in ranks]
    assert len(ranks[0]["seen"]) == len(ranks[1]["seen"]) == 4  # 512 images / 2 ranks / 64 per batch
    assert seen[0] and seen[1] and not (seen[0] & seen[1])  # each rank trained on its own half
    assert sorted(p.name for p in out.glob("*.pt")) == ["vae-mlp.pt"]


DIVERGE = textwrap.dedent(
    """
    import sys
    from fundamentalml.runs import get_run
    from fundamentalml.training import TrainingDiverged
    try:
        get_run("vae-mlp", "smoke", out=sys.argv[1], progress_bar=False, print_epochs=False, evaluate=False,
                model_kwargs={"lr": 1e6}, trainer_kwargs=dict(accelerator="cpu", devices=2, strategy="ddp"))
    except TrainingDiverged as exc:
        print("DIVERGED", exc)
        sys.exit(3)
    """
)


@pytest.mark.timeout(600)
def test_divergence_stops_every_process_of_a_ddp_run(tmp_path, data_dir):
    """Both processes stop together (neither waits forever on the other) and no NaN checkpoint is written."""
    script = tmp_path / "diverge_ddp.py"
    script.write_text(DIVERGE)
    out = tmp_path / "out"
    env = {**os.environ, "PL_DISABLE_FORK": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, env=env, timeout=540, cwd=tmp_path)
    assert result.returncode == 3, (result.stdout[-2000:], result.stderr[-3000:])
    assert "DIVERGED" in result.stdout and "diverged" in result.stdout
    assert not (out / "vae-mlp.pt").exists()

"""``python -m benchmarks.child``: measure ONE model in this process and write its result as JSON.

``python -m benchmarks`` starts one of these per model, because two of the numbers belong to a process, not
to a model: the peak resident memory (``ru_maxrss`` only ever grows) and the warm state (thread pools, oneDNN
kernel choices, Lightning's imports) that would make whichever model runs second look faster. It is also a
command of its own, for measuring one model by hand::

    python -m benchmarks.child --model vae-mlp --steps 30 --out vae-mlp.json

What training prints goes to stderr; stdout stays empty. Exit status 0 means ``--out`` holds the result.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m benchmarks.child``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.child", description="Measure one model (see python -m benchmarks).")
    p.add_argument("--model", required=True, help="one registry name")
    p.add_argument("--out", required=True, help="where to write the JSON result")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default: one full epoch)")
    p.add_argument("--warmup", type=int, default=5, help="untimed warm-up steps per path")
    p.add_argument("--repeats", type=int, default=1, help="interleaved repeats; the fastest of each path is kept")
    p.add_argument("--bf16", action="store_true", help="also time the project path at bf16-mixed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data_dir", "--data-dir", default=None, help="data folder (default $FUNDAMENTALML_DATA)")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Measure the model and write ``--out`` (atomically); return the result."""
    args = build_parser().parse_args(argv)
    from .measure import measure_model

    with contextlib.redirect_stdout(sys.stderr):
        result = measure_model(args.model, args.steps, args.warmup, args.bf16, args.seed, args.data_dir, max(1, args.repeats))
    out = Path(args.out)
    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(result, default=str))
    tmp.replace(out)
    return result


if __name__ == "__main__":
    main()

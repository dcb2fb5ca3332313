"""How `modelrollout validate` scales with the input: seconds per canary-step count, side by side.

    python benchmarks/validate_scaling.py [--steps 50,200,800,3200,10000]

Linear means the seconds per 1,000 steps stay about flat down the table (it was quadratic:
800 steps took 69 s, 10,000 did not finish in 14 CPU-minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import tempfile
import time
from pathlib import Path

import yaml

from modelrollout_operator.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(steps: int) -> float:
    doc = copy.deepcopy(yaml.safe_load((ROOT / "examples" / "experiment-canary.yaml").read_text()))
    doc["spec"]["strategy"]["canary"] = {
        "steps": [{"weight": min(i, 100)} for i in range(1, steps + 1)]
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exp.yaml"
        path.write_text(yaml.safe_dump(doc))
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            main(["validate", str(path)])
        return time.perf_counter() - started


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="50,200,800,3200,10000")
    args = parser.parse_args()
    run(10)  # warm up: imports, schema generation
    print(f"{'steps':>8} {'seconds':>9} {'s per 1000 steps':>17}")
    for n in (int(x) for x in args.steps.split(",")):
        seconds = run(n)
        print(f"{n:>8} {seconds:>9.3f} {seconds / n * 1000:>17.3f}")


if __name__ == "__main__":
    main_()

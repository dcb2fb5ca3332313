"""Trainer benchmark: training throughput per device, time to reach the gate, and ONNX Runtime
batch-1 latency of the exported model on CPU. Figures are measured side by side in one run.

    .venv/bin/python benchmarks/bench_trainer.py [--rows 200000] [--min-accuracy 0.85]

CUDA is used in addition to the CPU when torch sees a GPU (default rows then 1,000,000).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from modelrollout_trainer.datasets.splitting import split_indices
from modelrollout_trainer.datasets.validating import validate
from modelrollout_trainer.devices import configure_threads
from modelrollout_trainer.evaluating import evaluate
from modelrollout_trainer.exporting import INPUT_NAME, OUTPUT_NAME, export_onnx, session
from modelrollout_trainer.schema import SCORING_FEATURES, DatasetSchema, Task
from modelrollout_trainer.synthesizing import SynthSpec, synthesize
from modelrollout_trainer.training import Hyperparameters, TrainedModel, predict, train


@dataclass
class DeviceRun:
    device: str
    model: TrainedModel
    test_accuracy: float
    seconds_to_gate: float | None
    epochs_to_gate: int | None


def _train_on(
    device: torch.device,
    data_split: dict[str, tuple[np.ndarray, np.ndarray]],
    hp: Hyperparameters,
    gate: float,
) -> DeviceRun:
    model = train(Task.BINARY, 2, data_split["train"], data_split["validation"], hp, device)
    x_test, y_test = data_split["test"]
    accuracy = evaluate(Task.BINARY, y_test, predict(model.head, x_test))["accuracy"]
    reached = next((r for r in model.history if r.validation_accuracy >= gate), None)
    return DeviceRun(
        str(device),
        model,
        accuracy,
        reached.elapsed_seconds if reached else None,
        reached.epoch if reached else None,
    )


def _latency(path: Path, features: np.ndarray, runs: int) -> tuple[float, float, float]:
    sess = session(path, threads=1)
    rows = [features[i : i + 1] for i in range(min(len(features), 1000))]
    for row in rows[:200]:  # warm-up
        sess.run([OUTPUT_NAME], {INPUT_NAME: row})
    timings = np.empty(runs)
    for i in range(runs):
        row = rows[i % len(rows)]
        start = time.perf_counter_ns()
        sess.run([OUTPUT_NAME], {INPUT_NAME: row})
        timings[i] = time.perf_counter_ns() - start
    micros = timings / 1000.0
    return float(np.percentile(micros, 50)), float(np.percentile(micros, 99)), float(micros.max())


def main() -> None:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000 if cuda else 200_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--min-accuracy", type=float, default=0.85, help="the gate to reach")
    parser.add_argument("--latency-runs", type=int, default=5000)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default min(CPUs, 4))")
    args = parser.parse_args()

    threads = configure_threads(args.threads)
    started = time.perf_counter()
    data = validate(
        synthesize(SynthSpec(rows=args.rows, seed=1)),
        DatasetSchema(SCORING_FEATURES, "label", Task.BINARY),
    )
    split = split_indices(data.rows, 0, strata=data.labels.astype(np.int64))
    parts = {
        name: (data.features[rows], data.labels[rows])
        for name, rows in (
            ("train", split.train),
            ("validation", split.validation),
            ("test", split.test),
        )
    }
    print(
        f"dataset: {args.rows:,} rows x {len(SCORING_FEATURES)} features, "
        f"synthesized in {time.perf_counter() - started:.1f}s; torch {torch.__version__}, "
        f"{threads} CPU thread(s), CUDA {'yes: ' + torch.cuda.get_device_name(0) if cuda else 'no'}"
    )

    hp = Hyperparameters(epochs=args.epochs, batch_size=args.batch_size, patience=args.epochs)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if cuda else [])
    runs = [_train_on(device, parts, hp, args.min_accuracy) for device in devices]

    print(
        f"\ntraining ({split.train.size:,} train rows, batch {args.batch_size}, "
        f"{args.epochs} epochs max, gate: validation accuracy >= {args.min_accuracy})"
    )
    print(
        f"{'device':<8}{'samples/s':>14}{'epochs':>8}{'train s':>9}{'to gate s':>11}"
        f"{'gate epoch':>12}{'test acc':>10}"
    )
    for run in runs:
        to_gate = f"{run.seconds_to_gate:.2f}" if run.seconds_to_gate is not None else "never"
        print(
            f"{run.device:<8}{run.model.samples_per_second:>14,.0f}{len(run.model.history):>8}"
            f"{run.model.seconds:>9.2f}{to_gate:>11}{run.epochs_to_gate or '-':>12}"
            f"{run.test_accuracy:>10.4f}"
        )
    if len(runs) == 2:
        ratio = runs[1].model.samples_per_second / runs[0].model.samples_per_second
        print(f"cuda/cpu throughput ratio: {ratio:.1f}x")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(runs[0].model.head, len(SCORING_FEATURES), path)
        p50, p99, worst = _latency(path, parts["test"][0], args.latency_runs)
    target = 1000.0
    print(
        f"\nONNX Runtime CPU batch-1 latency over {args.latency_runs} runs (1 thread): "
        f"p50 {p50:.1f} us, p99 {p99:.1f} us, max {worst:.1f} us; "
        f"p99 is {target / p99:.0f}x under the 1 ms target"
    )


if __name__ == "__main__":
    main()

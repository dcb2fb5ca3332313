"""What each subcommand does once its arguments are parsed; each returns an exit code."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from .errors import EXIT_OK, EXIT_OTHER, TrainerError
from .reporting import TERMINATION_LOG, emit, error_result

log = logging.getLogger(__name__)

__all__ = ["TERMINATION_LOG", "run_build", "run_evaluate", "run_fetch", "run_synth", "run_train"]


def _fail(error: BaseException) -> int:
    code = error.exit_code if isinstance(error, TrainerError) else EXIT_OTHER
    print(f"error: {error}", file=sys.stderr)
    return code


def _print_json(payload: object) -> None:
    print(json.dumps(payload, separators=(",", ":")), flush=True)


def run_train(args: argparse.Namespace) -> int:
    # heavy imports here, so `synth` or `fetch` do not pay for torch
    from .gating import Gate
    from .job import TrainRequest, run_training_job
    from .repository import ServingConfig
    from .schema import Task
    from .training import Hyperparameters

    termination_log = Path(args.termination_log) if args.termination_log else None
    try:
        task = Task(args.task)
        request = TrainRequest(
            dataset=args.dataset,
            model=args.model,
            version=args.version,
            output=args.output,
            task=task,
            label_column=args.label_column,
            features=args.features,
            gate=Gate.from_limits(
                task,
                min_accuracy=args.min_accuracy,
                min_roc_auc=args.min_roc_auc,
                max_log_loss=args.max_log_loss,
                max_ece=args.max_ece,
            ),
            hyperparameters=Hyperparameters(
                epochs=args.epochs,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                hidden=tuple(args.hidden),
                patience=args.patience,
                seed=args.seed,
            ),
            device=args.device,
            threads=args.threads,
            tolerance=args.tolerance,
            serving=ServingConfig(max_batch_size=args.max_batch_size),
        )
        outcome = run_training_job(request, show_progress=not args.quiet)
    except Exception as error:  # every failure still reports, so the operator can say why
        if not isinstance(error, TrainerError):
            log.exception("training failed")
        code = _fail(error)
        emit(
            error_result(args.model, args.version, code, str(error)),
            termination_log=termination_log,
        )
        return code
    emit(outcome.result, termination_log=termination_log)
    return outcome.exit_code


def run_synth(args: argparse.Namespace) -> int:
    from .datasets.formats import detect_format, write_table
    from .synthesizing import SynthSpec, synthesize

    try:
        detect_format(args.output)
        spec = SynthSpec(
            rows=args.rows,
            seed=args.seed,
            rule_seed=args.rule_seed,
            label_noise=args.label_noise,
            shift=args.shift,
        )
        frame = synthesize(spec)
        write_table(frame, args.output)
    except TrainerError as error:
        return _fail(error)
    _print_json(
        {
            "output": args.output,
            "rows": len(frame),
            "positiveShare": round(float(frame["label"].mean()), 4),
        }
    )
    return EXIT_OK


def run_build(args: argparse.Namespace) -> int:
    import pandas as pd

    from .datasets.building import (
        BuildStats,
        fetch_logs,
        join_records,
        log_files,
        parse_time,
        read_records,
        to_frame,
    )
    from .datasets.formats import detect_format, read_table, write_table
    from .errors import DatasetError, UsageError

    termination_log = Path(args.termination_log) if args.termination_log else None
    try:
        detect_format(args.output)
        if not args.logs and args.base is None:
            raise UsageError("give --log (the prediction log), --base (a dataset), or both")
        since = parse_time(args.since) if args.since else None
        until = parse_time(args.until) if args.until else None
        stats = BuildStats()
        with tempfile.TemporaryDirectory(prefix="modelrollout-logs-") as tmp:
            locations = fetch_logs(args.logs, Path(tmp))
            joined = join_records(
                read_records(log_files(locations), stats),
                args.model,
                args.versions,
                stats,
                since=since,
                until=until,
            )
        if joined.width == 0 and args.base is None:
            raise DatasetError(f"prediction log has no usable predictions of model {args.model!r}")
        frame = (
            to_frame(joined, args.feature_names, args.include_unlabelled) if joined.width else None
        )
        if stats.rows_labelled < args.min_labelled:
            raise DatasetError(
                f"{stats.rows_labelled} labelled rows in the prediction log, fewer than "
                f"--min-labelled {args.min_labelled}"
            )
        if args.base is not None:
            base = read_table(args.base)
            if frame is not None and set(frame.columns) != set(base.columns):
                raise DatasetError(
                    f"the base dataset's columns ({len(base.columns)}) are not the prediction "
                    f"log's ({len(frame.columns)}): {sorted(set(base.columns) ^ set(frame.columns))[:5]}"
                )
            frame = (
                base if frame is None else pd.concat([base, frame[base.columns]], ignore_index=True)
            )
        if frame is None or frame.empty:
            raise DatasetError(
                f"none of {stats.predictions} predictions has feedback yet; "
                "pass --include-unlabelled to keep them"
            )
        write_table(frame, args.output)
    except TrainerError as error:
        code = _fail(error)
        emit(error_result(args.model, None, code, str(error)), termination_log=termination_log)
        return code
    emit(
        {"output": args.output, "rows": len(frame), "model": args.model, **stats.as_dict()},
        termination_log=termination_log,
    )
    return EXIT_OK


def run_fetch(args: argparse.Namespace) -> int:
    from .storage import fetch_verified

    try:
        sha256 = fetch_verified(args.uri, Path(args.dest), expected_sha256=args.sha256)
    except TrainerError as error:
        return _fail(error)
    _print_json(
        {
            "uri": args.uri,
            "path": str(Path(args.dest).resolve()),
            "sha256": sha256,
            "verified": True,
        }
    )
    return EXIT_OK


def run_evaluate(args: argparse.Namespace) -> int:
    from .datasets.formats import read_table
    from .datasets.validating import validate
    from .evaluating import evaluate
    from .exporting import run_onnx
    from .schema import DatasetSchema, Task, resolve_features
    from .storage import download_file, fetch_verified

    try:
        task = Task(args.task)
        frame = read_table(args.dataset)
        features = resolve_features(
            args.features, [str(c) for c in frame.columns], args.label_column
        )
        data = validate(frame, DatasetSchema(features, args.label_column, task))
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "model.onnx"
            if args.sha256:
                fetch_verified(args.model_uri, local, expected_sha256=args.sha256)
            else:
                download_file(args.model_uri, local)
            scores = run_onnx(local, data.features)
        metrics = evaluate(task, data.labels, scores, args.tolerance)
    except TrainerError as error:
        return _fail(error)
    _print_json(
        {
            "model": args.model_uri,
            "dataset": args.dataset,
            "rows": data.rows,
            "metrics": {k: round(v, 6) for k, v in metrics.items()},
        }
    )
    return EXIT_OK

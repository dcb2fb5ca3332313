"""Human-facing lines on stderr: one per epoch, and the final metrics table."""

from __future__ import annotations

from collections.abc import Mapping

from .training import EpochRecord


def epoch_line(record: EpochRecord, epochs: int) -> str:
    width = len(str(epochs))
    return (
        f"epoch {record.epoch:>{width}}/{epochs}  loss {record.train_loss:.4f}  "
        f"val_loss {record.validation_loss:.4f}  val_acc {record.validation_accuracy:.4f}  "
        f"{record.samples_per_second:,.0f} samples/s  {record.elapsed_seconds:.1f}s"
    )


def metrics_table(metrics: Mapping[str, Mapping[str, float]]) -> str:
    """A fixed-width table: one row per split, one column per metric (first split's order)."""
    columns: list[str] = []
    for values in metrics.values():
        columns += [name for name in values if name not in columns]
    header = f"{'split':<12}" + "".join(f"{name:>10}" for name in columns)
    lines = [header, "-" * len(header)]
    for split, values in metrics.items():
        cells = "".join(
            f"{values[name]:>10.4f}" if name in values else f"{'-':>10}" for name in columns
        )
        lines.append(f"{split:<12}{cells}")
    return "\n".join(lines)

"""The training loop: mini-batch Adam, early stopping on validation loss, per-epoch records."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from .errors import UsageError
from .models import ScoringHead, TabularMLP, output_width
from .schema import Task

log = logging.getLogger(__name__)

Features = npt.NDArray[np.float32]
Labels = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int = 40
    batch_size: int = 512
    learning_rate: float = 2e-3
    hidden: tuple[int, ...] = (128, 64)
    patience: int = 5
    weight_decay: float = 1e-5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise UsageError(f"--epochs must be positive, got {self.epochs}")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be positive, got {self.batch_size}")
        if not self.learning_rate > 0:
            raise UsageError(f"--learning-rate must be positive, got {self.learning_rate}")
        if not self.hidden or any(width < 1 for width in self.hidden):
            raise UsageError(f"--hidden must list positive layer widths, got {self.hidden}")
        if self.patience < 1:
            raise UsageError(f"--patience must be positive, got {self.patience}")
        if self.weight_decay < 0:
            raise UsageError(f"--weight-decay must not be negative, got {self.weight_decay}")


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    validation_loss: float
    validation_accuracy: float
    elapsed_seconds: float  # since training started, validation included
    samples_per_second: float  # training throughput of this epoch


@dataclass
class TrainedModel:
    head: ScoringHead  # on CPU, in eval mode, with the best validation weights
    device: str
    best_epoch: int
    seconds: float
    train_seconds: float  # time in optimizer steps only
    samples_seen: int
    history: list[EpochRecord] = field(default_factory=list)

    @property
    def samples_per_second(self) -> float:
        return self.samples_seen / self.train_seconds if self.train_seconds > 0 else 0.0


def _loss_and_targets(
    task: Task, labels: Labels, target_mean: float, target_std: float, device: torch.device
) -> tuple[nn.Module, torch.Tensor]:
    if task is Task.BINARY:
        targets = torch.as_tensor(labels, dtype=torch.float32).reshape(-1, 1)
        return nn.BCEWithLogitsLoss(), targets.to(device)
    if task is Task.MULTICLASS:
        return nn.CrossEntropyLoss(), torch.as_tensor(labels, dtype=torch.int64).to(device)
    scaled = (labels - target_mean) / target_std
    return nn.MSELoss(), torch.as_tensor(scaled, dtype=torch.float32).reshape(-1, 1).to(device)


def _correct(task: Task, raw: torch.Tensor, targets: torch.Tensor, tolerance: float) -> int:
    if task is Task.BINARY:
        return int(((raw >= 0).float() == targets).sum())
    if task is Task.MULTICLASS:
        return int((raw.argmax(dim=1) == targets).sum())
    return int(((raw - targets).abs() <= tolerance).sum())


def train(
    task: Task,
    num_classes: int,
    train_data: tuple[Features, Labels],
    validation_data: tuple[Features, Labels],
    hyperparameters: Hyperparameters,
    device: torch.device,
    *,
    tolerance: float = 0.5,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainedModel:
    """Train an MLP; stop when validation loss has not improved for `patience` epochs."""
    hp = hyperparameters
    torch.manual_seed(hp.seed)
    x_train, y_train = train_data
    x_validation, y_validation = validation_data
    target_mean, target_std = 0.0, 1.0
    if task is Task.REGRESSION:
        # a standardized target keeps one learning rate right for any unit
        target_mean = float(y_train.mean())
        target_std = float(y_train.std()) or 1.0
    mlp = TabularMLP(
        x_train.mean(axis=0), x_train.std(axis=0), hp.hidden, output_width(task, num_classes)
    ).to(device)
    criterion, targets = _loss_and_targets(task, y_train, target_mean, target_std, device)
    _, validation_targets = _loss_and_targets(task, y_validation, target_mean, target_std, device)
    features = torch.as_tensor(x_train).to(device)
    validation_features = torch.as_tensor(x_validation).to(device)
    scaled_tolerance = tolerance / target_std
    optimizer = torch.optim.Adam(
        mlp.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay
    )
    generator = torch.Generator(device=device).manual_seed(hp.seed)

    rows = features.shape[0]
    best_loss, best_epoch, best_state = float("inf"), 0, copy.deepcopy(mlp.state_dict())
    history: list[EpochRecord] = []
    started = time.perf_counter()
    train_seconds, samples_seen = 0.0, 0
    for epoch in range(1, hp.epochs + 1):
        mlp.train()
        epoch_started = time.perf_counter()
        order = torch.randperm(rows, generator=generator, device=device)
        total_loss = torch.zeros((), device=device)
        for start in range(0, rows, hp.batch_size):
            batch = order[start : start + hp.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(mlp(features[batch]), targets[batch])
            loss.backward()
            optimizer.step()
            total_loss += loss.detach() * batch.numel()
        train_loss = float(total_loss) / rows  # one device sync per epoch, not per step
        epoch_train_seconds = time.perf_counter() - epoch_started
        train_seconds += epoch_train_seconds
        samples_seen += rows

        mlp.eval()
        with torch.no_grad():
            raw = mlp(validation_features)
            validation_loss = float(criterion(raw, validation_targets))
            accuracy = _correct(task, raw, validation_targets, scaled_tolerance) / raw.shape[0]
        record = EpochRecord(
            epoch,
            train_loss,
            validation_loss,
            accuracy,
            time.perf_counter() - started,
            rows / epoch_train_seconds,
        )
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if validation_loss < best_loss - 1e-6:
            best_loss, best_epoch = validation_loss, epoch
            best_state = copy.deepcopy(mlp.state_dict())
        elif epoch - best_epoch >= hp.patience:
            log.info("early stop", extra={"fields": {"epoch": epoch, "best_epoch": best_epoch}})
            break

    mlp.load_state_dict(best_state)
    head = ScoringHead(mlp.cpu(), task, target_mean, target_std).eval()
    return TrainedModel(
        head,
        str(device),
        best_epoch,
        time.perf_counter() - started,
        train_seconds,
        samples_seen,
        history,
    )


def predict(
    head: ScoringHead, features: Features, batch_size: int = 65_536
) -> npt.NDArray[np.float32]:
    """Scores of the served model (after sigmoid/softmax), on CPU, in float32."""
    head.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, features.shape[0], batch_size):
            chunk = torch.as_tensor(features[start : start + batch_size])
            outputs.append(head(chunk).numpy())
    return np.concatenate(outputs).astype(np.float32)

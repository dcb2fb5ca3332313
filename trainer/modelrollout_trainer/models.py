"""The first model family: an MLP over standardized tabular features."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from .schema import Task


class TabularMLP(nn.Module):
    """features -> standardize -> [Linear, ReLU]* -> Linear -> raw outputs (logits or target).

    The standardization statistics are buffers, so the exported model takes raw features
    and serving needs no preprocessing step of its own.
    """

    mean: torch.Tensor
    inv_std: torch.Tensor

    def __init__(
        self,
        feature_mean: npt.NDArray[np.float32],
        feature_std: npt.NDArray[np.float32],
        hidden: Sequence[int],
        outputs: int,
    ) -> None:
        super().__init__()
        std = np.where(feature_std > 1e-12, feature_std, 1.0).astype(np.float32)
        self.register_buffer("mean", torch.from_numpy(np.asarray(feature_mean, np.float32)))
        self.register_buffer("inv_std", torch.from_numpy(1.0 / std))
        layers: list[nn.Module] = []
        width = int(feature_mean.shape[0])
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        scaled: torch.Tensor = self.net((features - self.mean) * self.inv_std)
        return scaled


class ScoringHead(nn.Module):
    """What is served and exported: the MLP plus the task's output transform.

    binary: sigmoid probability of class 1, shape [N, 1]; multiclass: softmax, [N, C];
    regression: the target back in its own units, [N, 1].
    """

    def __init__(
        self, mlp: TabularMLP, task: Task, target_mean: float = 0.0, target_std: float = 1.0
    ) -> None:
        super().__init__()
        self.mlp = mlp
        self.task = task
        self.target_mean = float(target_mean)
        self.target_std = float(target_std)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        raw: torch.Tensor = self.mlp(features)
        if self.task is Task.BINARY:
            return torch.sigmoid(raw)
        if self.task is Task.MULTICLASS:
            return torch.softmax(raw, dim=1)
        return raw * self.target_std + self.target_mean


def output_width(task: Task, num_classes: int) -> int:
    return num_classes if task is Task.MULTICLASS else 1

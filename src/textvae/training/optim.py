"""The optimizer and the learning-rate schedule a run trains with (`TrainConfig`): Adam by default;
He et al. 2019's SGD at learning rate 1.0 with the gradient's norm clipped to 5 and the rate
halved when the validation loss stops improving is `--optimizer sgd --lr 1.0 --grad-clip 5
--lr-decay 0.5`. (He et al. also restart from the best weights at each decay, start decaying after
15 epochs and stop after 5 decays; those are left out.)"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

from textvae.training.config import TrainConfig


def build_optimizer(parameters: Iterable[torch.nn.Parameter], training: TrainConfig) -> torch.optim.Optimizer:
    if training.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=training.lr)
    return torch.optim.Adam(parameters, lr=training.lr)


def build_lr_schedule(optimizer: torch.optim.Optimizer, training: TrainConfig) -> ReduceLROnPlateau | None:
    """With --lr-decay, the rate falls by that factor once --lr-patience evaluations in a row brought
    no validation loss lower than the best so far."""
    if training.lr_decay is None:
        return None
    return ReduceLROnPlateau(optimizer, mode="min", factor=training.lr_decay, patience=training.lr_patience - 1,
                             threshold=0.0)


def clip_gradient(parameters: Iterable[torch.nn.Parameter], max_norm: float | None) -> float:
    """The gradient's norm before clipping (to `max_norm`, where given)."""
    return float(torch.nn.utils.clip_grad_norm_(list(parameters), math.inf if max_norm is None else max_norm))

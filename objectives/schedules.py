"""Learning-rate schedules as pure functions of the update step (counted from 0).

Epoch-based schedules (step, exponential) change the rate at epoch boundaries; the cyclical
(triangular) schedule of Smith (2015) works in update steps; a linear warm-up scales any of them.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "step", "exponential", "cyclical")


def step_decay(epoch: int, lr: float, decay_rate: float, decay_every: int) -> float:
    """lr multiplied by decay_rate once every decay_every completed epochs."""
    return lr * decay_rate ** (epoch // max(decay_every, 1))


def exponential(epoch: int, lr: float, k: float) -> float:
    """lr * exp(-k * epoch), epoch counting completed epochs."""
    return lr * math.exp(-k * epoch)


def cyclical(step: int, eta_min: float, eta_max: float, n_s: int) -> float:
    """Triangular cycle: eta_min -> eta_max over n_s steps, back to eta_min over the next n_s."""
    position = step % (2 * n_s)
    fraction = position / n_s if position < n_s else 2.0 - position / n_s
    return eta_min + (eta_max - eta_min) * fraction


def warmup(step: int, warmup_steps: int) -> float:
    """Linear warm-up factor: (step + 1) / warmup_steps for the first warmup_steps steps, then 1."""
    if warmup_steps <= 0 or step >= warmup_steps:
        return 1.0
    return (step + 1) / warmup_steps


def learning_rate(
    step: int,
    *,
    schedule: str,
    steps_per_epoch: int,
    lr: float,
    decay_rate: float = 1.0,
    decay_every: int = 1,
    exp_k: float = 0.0,
    eta_min: float = 0.0,
    eta_max: float = 0.0,
    n_s: int = 1,
    warmup_epochs: float = 0.0,
) -> float:
    """The rate for update `step` under `schedule`, including the linear warm-up."""
    epoch = step // steps_per_epoch
    if schedule == "constant":
        rate = lr
    elif schedule == "step":
        rate = step_decay(epoch, lr, decay_rate, decay_every)
    elif schedule == "exponential":
        rate = exponential(epoch, lr, exp_k)
    elif schedule == "cyclical":
        rate = cyclical(step, eta_min, eta_max, n_s)
    else:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {schedule!r}")
    return rate * warmup(step, round(warmup_epochs * steps_per_epoch))

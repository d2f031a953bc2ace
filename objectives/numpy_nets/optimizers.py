"""NumPy optimizers that update parameter arrays in place, allocating nothing per step.

`step(grads, lr)` forms each parameter's update direction (an optimizer's state array, or the
gradient array reused as scratch) and subtracts lr times it in one BLAS axpy pass; `max_update`
(for the stop rule) is lr times the largest |direction| entry.
Momentum and Nesterov follow torch.optim.SGD's formulation, Adam and Adagrad torch's defaults.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from objectives.numpy_nets.blas import axpy

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adagrad")


class Optimizer:
    """Plain SGD: p -= lr * g. Subclasses change how the update is formed."""

    def __init__(self, params: Sequence[np.ndarray], track_updates: bool = False) -> None:
        self.params = list(params)
        self.track_updates = track_updates
        self.max_update = 0.0

    def _directions(self, grads: Sequence[np.ndarray]) -> Sequence[np.ndarray]:
        """Arrays whose lr multiple is subtracted from each parameter (may overwrite grads)."""
        return grads

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Everything a later step depends on: (state arrays by name, scalars) for a checkpoint."""
        arrays = {f"{name}_{i}": a for name in self._state_arrays
                  for i, a in enumerate(getattr(self, name))}
        return arrays, {"max_update": self.max_update, "t": float(getattr(self, "t", 0))}

    def load_state(self, arrays: dict[str, np.ndarray], scalars: dict[str, float]) -> None:
        """Put back what state() gave (in place: the arrays keep their identity)."""
        for name in self._state_arrays:
            for i, a in enumerate(getattr(self, name)):
                a[...] = arrays[f"{name}_{i}"]
        self.max_update = scalars["max_update"]
        if hasattr(self, "t"):
            self.t = int(scalars["t"])

    _state_arrays: tuple[str, ...] = ()

    def step(self, grads: Sequence[np.ndarray], lr: float) -> None:
        directions = self._directions(grads)
        for p, d in zip(self.params, directions, strict=True):
            axpy(d, p, -lr)
        if self.track_updates:
            self.max_update = lr * max(max(float(d.max()), -float(d.min())) for d in directions)


class Momentum(Optimizer):
    """Heavy ball: v = mu * v + g; update = lr * v."""

    _state_arrays = ("velocity",)

    def __init__(self, params: Sequence[np.ndarray], momentum: float,
                 track_updates: bool = False) -> None:
        super().__init__(params, track_updates)
        self.momentum = momentum
        self.velocity = [np.zeros_like(p) for p in self.params]

    def _directions(self, grads: Sequence[np.ndarray]) -> Sequence[np.ndarray]:
        for v, g in zip(self.velocity, grads, strict=True):
            v *= self.momentum
            v += g
        return self.velocity


class Nesterov(Momentum):
    """Nesterov momentum: v = mu * v + g; update = lr * (g + mu * v)."""

    def _directions(self, grads: Sequence[np.ndarray]) -> Sequence[np.ndarray]:
        for v, g in zip(self.velocity, grads, strict=True):
            v *= self.momentum
            v += g
            axpy(v, g, self.momentum)
        return grads


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction and eps added to the corrected sqrt(v)."""

    _state_arrays = ("m", "v")

    def __init__(self, params: Sequence[np.ndarray], beta1: float, beta2: float,
                 eps: float = 1e-8, track_updates: bool = False) -> None:
        super().__init__(params, track_updates)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.scratch = [np.empty_like(p) for p in self.params]
        self.t = 0

    def _directions(self, grads: Sequence[np.ndarray]) -> Sequence[np.ndarray]:
        self.t += 1
        correction1 = 1.0 - self.beta1**self.t
        sqrt_correction2 = math.sqrt(1.0 - self.beta2**self.t)
        for m, v, tmp, g in zip(self.m, self.v, self.scratch, grads, strict=True):
            m *= self.beta1
            np.multiply(g, 1.0 - self.beta1, out=tmp)
            m += tmp
            v *= self.beta2
            np.square(g, out=tmp)
            tmp *= 1.0 - self.beta2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp *= 1.0 / sqrt_correction2
            tmp += self.eps
            tmp *= correction1
            np.divide(m, tmp, out=g)
        return grads


class Adagrad(Optimizer):
    """Adagrad: G += g^2; update = lr * g / (sqrt(G) + eps)."""

    _state_arrays = ("sum_sq",)

    def __init__(self, params: Sequence[np.ndarray], eps: float = 1e-10,
                 track_updates: bool = False) -> None:
        super().__init__(params, track_updates)
        self.eps = eps
        self.sum_sq = [np.zeros_like(p) for p in self.params]
        self.scratch = [np.empty_like(p) for p in self.params]

    def _directions(self, grads: Sequence[np.ndarray]) -> Sequence[np.ndarray]:
        for s, tmp, g in zip(self.sum_sq, self.scratch, grads, strict=True):
            np.square(g, out=tmp)
            s += tmp
            np.sqrt(s, out=tmp)
            tmp += self.eps
            g /= tmp
        return grads


def make_optimizer(
    name: str,
    params: Sequence[np.ndarray],
    *,
    momentum: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    track_updates: bool = False,
) -> Optimizer:
    """The optimizer called `name` (one of OPTIMIZERS) over `params`."""
    if name == "sgd":
        return Optimizer(params, track_updates)
    if name == "momentum":
        return Momentum(params, momentum, track_updates)
    if name == "nesterov":
        return Nesterov(params, momentum, track_updates)
    if name == "adam":
        return Adam(params, beta1, beta2, track_updates=track_updates)
    if name == "adagrad":
        return Adagrad(params, track_updates=track_updates)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {name!r}")

"""Gradient check: the NumPy models' analytic gradients (the code the training loop runs) against
centred finite differences of the regularised cost, in float64 on small random problems.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from objectives.errors import ConfigError
from objectives.numpy_nets.common import Net
from objectives.numpy_nets.softmax import SoftmaxRegression
from objectives.numpy_nets.two_layer import TwoLayerNet

TOLERANCE = 1e-6
CHECKABLE = ("softmax", "two_layer")
LAMBDA = 0.1


def relative_error(analytic: np.ndarray, numerical: np.ndarray, floor: float = 1e-8) -> float:
    """max |a - n| / max(floor, |a| + |n|) over all entries."""
    diff = np.abs(analytic - numerical)
    scale = np.maximum(floor, np.abs(analytic) + np.abs(numerical))
    return float((diff / scale).max())


def numerical_gradient(cost: Callable[[], float], param: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred differences (cost(p + h) - cost(p - h)) / 2h, one entry of `param` at a time."""
    grad = np.zeros_like(param)
    flat, out = param.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = cost()
        flat[i] = old - h
        minus = cost()
        flat[i] = old
        out[i] = (plus - minus) / (2 * h)
    return grad


def problem(name: str, seed: int = 0) -> tuple[Net, list[str], np.ndarray, np.ndarray]:
    """A small float64 model with L2 on, its parameter names, and random data (X, y)."""
    rng = np.random.default_rng(seed)
    n, d, k, hidden = 20, 12, 5, 8
    X = rng.standard_normal((n, d))
    y = rng.integers(0, k, n)
    net: Net
    if name == "softmax":
        net = SoftmaxRegression(0.5 * rng.standard_normal((d, k)), 0.1 * rng.standard_normal(k),
                                lam=LAMBDA)
        return net, ["W", "b"], X, y
    if name == "two_layer":
        net = TwoLayerNet(
            np.ascontiguousarray(rng.standard_normal((hidden, d)).T) * np.sqrt(2.0 / d),
            0.1 * rng.standard_normal(hidden),
            rng.standard_normal((k, hidden)) * np.sqrt(2.0 / hidden), 0.1 * rng.standard_normal(k),
            lam=LAMBDA,
        )
        return net, ["W1", "b1", "W2", "b2"], X, y
    raise ConfigError(f"Unknown objective '{name}' for gradcheck; valid: {', '.join(CHECKABLE)}.")


def check(name: str, seed: int = 0) -> dict[str, float]:
    """Max relative error between analytic and numerical gradients, per parameter."""
    net, names, X, y = problem(name, seed)
    net.compute_grads(X, y)
    analytic = [g.copy() for g in net.grads]
    return {
        pname: relative_error(ga, numerical_gradient(lambda: net.cost(X, y), p))
        for pname, p, ga in zip(names, net.params, analytic, strict=True)
    }

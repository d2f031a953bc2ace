"""Two-layer ReLU network in NumPy (DD2424 assignment 2): d -> hidden -> classes, He init,
cost = cross-entropy + lambda * (||W1||^2 + ||W2||^2), mini-batch gradient descent with a
cyclical (triangular) learning rate; training lasts 2 * n_s * cycles update steps.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from objectives.base import Param, Reporter, RunResult, Split, class_count
from objectives.checkpoint import Checkpoint
from objectives.config import resolve_config
from objectives.errors import ConfigError
from objectives.numpy_nets.blas import axpy
from objectives.numpy_nets.common import (
    evaluate,
    flat_views,
    load_npz,
    predict,
    predict_proba,
    resolve_batch_size,
    save_npz,
)
from objectives.numpy_nets.loop import train as train_loop
from objectives.numpy_nets.optimizers import Optimizer
from objectives.numpy_nets.xent import CrossEntropyGrad
from objectives.schedules import cyclical
from objectives.threads import THREADS_HELP, THREADS_LIMIT, limited

PARAMS: dict[str, Param] = {
    "hidden": Param("int", 50, "hidden ReLU units", low=1),
    "lambda": Param("float", 0.01, "L2 penalty on W1 and W2", low=0.0),
    "eta_min": Param("float", 1e-5, "lowest cyclical learning rate", low=0.0),
    "eta_max": Param("float", 1e-1, "highest cyclical learning rate", low=0.0),
    "n_s": Param("int", 500, "half-cycle in update steps; 0 = 2 * floor(n / batch_size)", low=0),
    "cycles": Param("int", 1, "number of full cycles (training length 2 * n_s * cycles)", low=1),
    "batch_size": Param("int", 100, "examples per update; 0 or more than the split = full batch",
                        low=0),
    "points_per_cycle": Param("int", 4, "evaluations per cycle (plus the last step)", low=1),
    "flip": Param("bool", False, "mirror a random half of each mini-batch left to right"),
    "threads": Param("int", 0, THREADS_HELP, low=0, high=THREADS_LIMIT),
}


class TwoLayerNet:
    """W1 (d, h), b1 (h,), W2 (K, h), b2 (K,): hidden = relu(X @ W1 + b1) and scores =
    hidden @ W2.T + b2 (W2 is (out, in) as in DD2424 and torch's nn.Linear; W1 is stored
    (in, out), see below). All four are views of one flat buffer (`flat_params`, what the
    optimizer steps); gradients go to a preallocated flat buffer laid out the same way.

    W1 is stored (in, out) because the GEMM pair of that orientation (forward X @ W1, gradient
    X^T @ dH) is the one OpenBLAS runs faster for these shapes on the development machine; the
    faster orientation depends on the CPU (docs/performance.md, "Speed").

    Plain SGD has a fused step, `sgd_step`, that keeps W1's L2 decay (W1 *= 1 - 2 lr lambda
    each step) in a scalar, `_w1_scale`, as scikit-learn's SGD keeps `wscale`: W1 is then
    `_w1_scale` times the stored array, so a step makes one pass over W1 instead of two. Every
    other method folds the scale back into the array first (`_fold_scale`), so outside
    `sgd_step` W1 is the weights."""

    def __init__(self, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray,
                 lam: float = 0.0) -> None:
        self.flat_params, self.params = flat_views([W1, b1, W2, b2])
        self.W1, self.b1, self.W2, self.b2 = self.params
        self.flat_grads, self.grads = flat_views([np.zeros_like(p) for p in self.params])
        self.lam = lam
        self._capacity = -1
        self._xent = CrossEntropyGrad()
        self._w1_scale = 1.0

    @classmethod
    def init(cls, d: int, hidden: int, k: int, rng: np.random.Generator, lam: float = 0.0,
             dtype: type = np.float32) -> TwoLayerNet:
        """He-style init: weights ~ N(0, 2 / fan_in), zero biases."""
        # W2 drawn (in, out) and transposed, so a seed gives the same weights in either layout.
        W1 = rng.standard_normal((d, hidden)) * math.sqrt(2.0 / d)
        W2 = rng.standard_normal((hidden, k)).T * math.sqrt(2.0 / hidden)
        return cls(W1.astype(dtype), np.zeros(hidden, dtype), W2.astype(dtype),
                   np.zeros(k, dtype), lam)

    def _buffers(self, m: int) -> None:
        if m > self._capacity:
            h, k, dt = self.W1.shape[1], self.W2.shape[0], self.W1.dtype
            self._H = np.empty((m, h), dt)
            self._dH = np.empty((m, h), dt)
            self._mask = np.empty((m, h), bool)
            self._P = np.empty((m, k), dt)
            self._capacity = m

    def _fold_scale(self) -> None:
        if self._w1_scale != 1.0:
            self.W1 *= self._w1_scale
            self._w1_scale = 1.0

    def scores(self, X: np.ndarray) -> np.ndarray:
        self._fold_scale()
        H = X @ self.W1
        H += self.b1
        np.maximum(H, 0.0, out=H)
        S: np.ndarray = H @ self.W2.T
        S += self.b2
        return S

    def cost(self, X: np.ndarray, y: np.ndarray) -> float:
        """Mean cross-entropy plus lambda * (||W1||^2 + ||W2||^2)."""
        self._fold_scale()
        penalty = sum(float(np.sum(W.astype(np.float64) ** 2)) for W in (self.W1, self.W2))
        return evaluate(self, X, y)["loss"] + self.lam * penalty

    def compute_grads(self, X: np.ndarray, y: np.ndarray) -> None:
        self._fold_scale()
        self._backprop(X, y, 1.0)
        if self.lam:
            axpy(self.W1, self.grads[0], 2.0 * self.lam)

    def sgd_step(self, X: np.ndarray, y: np.ndarray, lr: float) -> None:
        """The plain-SGD update params -= lr * gradient of the cost, with W1's decay kept in
        `_w1_scale` (see the class docstring). Same result as compute_grads and an Optimizer
        step, up to rounding."""
        gW1 = self.grads[0]
        self._backprop(X, y, self._w1_scale)
        scale = self._w1_scale * (1.0 - 2.0 * lr * self.lam)
        if scale >= 1e-3:
            self._w1_scale = scale
            axpy(gW1, self.W1, -lr / scale)
        else:  # a long run or an extreme lr * lambda: fold the decay in now
            self.W1 *= scale
            self._w1_scale = 1.0
            axpy(gW1, self.W1, -lr)
        rest_params, rest_grads = self.flat_params[self.W1.size:], self.flat_grads[self.W1.size:]
        axpy(rest_grads, rest_params, -lr)

    def _backprop(self, X: np.ndarray, y: np.ndarray, w1_scale: float) -> None:
        """Gradients of the mean cross-entropy, plus W2's L2 term, with W1 = w1_scale times the
        stored array (gW1 is with respect to W1 itself)."""
        m = X.shape[0]
        self._buffers(m)
        H, dH, mask, P = self._H[:m], self._dH[:m], self._mask[:m], self._P[:m]
        gW1, gb1, gW2, gb2 = self.grads
        np.matmul(X, self.W1, out=H)
        if w1_scale != 1.0:
            H *= w1_scale
        H += self.b1
        np.maximum(H, 0.0, out=H)
        np.matmul(H, self.W2.T, out=P)
        P += self.b2
        self._xent(P, y, 1.0 / m)
        np.matmul(P.T, H, out=gW2)
        self._xent.column_sums(P, out=gb2)
        np.matmul(P, self.W2, out=dH)
        np.greater(H, 0.0, out=mask)
        dH *= mask
        np.matmul(X.T, dH, out=gW1)
        self._xent.column_sums(dH, out=gb1)
        if self.lam:
            axpy(self.W2, gW2, 2.0 * self.lam)

    def last_loss(self) -> float:
        """Mean cross-entropy (no L2) of the last compute_grads or sgd_step batch, before its
        update."""
        return self._xent.loss()

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        return evaluate(self, X, y)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return predict(self, X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return predict_proba(self, X)

    def save(self, path: Path) -> Path:
        self._fold_scale()
        return save_npz(path, W1=self.W1, b1=self.b1, W2=self.W2, b2=self.b2)

    @classmethod
    def load(cls, path: Path) -> TwoLayerNet:
        a = load_npz(path)
        return cls(a["W1"], a["b1"], a["W2"], a["b2"])


def schedule(config: Mapping[str, Any], n_train: int) -> tuple[int, int, list[int]]:
    """(n_s, total update steps, reporting steps) for a resolved config and training-set size."""
    batch = resolve_batch_size(config["batch_size"], n_train)
    n_s = config["n_s"] or 2 * (n_train // batch)
    n_s = max(n_s, 1)
    total = 2 * n_s * config["cycles"]
    every = 2 * n_s / config["points_per_cycle"]
    points = {max(1, round(i * every)) for i in range(1, config["points_per_cycle"]
                                                     * config["cycles"] + 1)}
    return n_s, total, sorted(p for p in points | {total} if p <= total)


class TwoLayerObjective:
    """The `two_layer` objective: trains TwoLayerNet with plain mini-batch GD and cyclical LR."""

    name = "two_layer"
    params = PARAMS
    normalize = "feature"
    resumable = True
    mutable = frozenset({"lambda", "eta_min", "eta_max"})
    """Read from the config by a continued fit (the net's lambda, the cyclical schedule); n_s
    and cycles set the run's length and reporting points, so they stay as trained."""

    def fit(
        self,
        config: Mapping[str, Any],
        train: Split,
        val: Split,
        report: Reporter,
        seed: int,
        image_shape: tuple[int, int, int],
        checkpoint: Checkpoint | None = None,
    ) -> RunResult:
        """Train once with `config`; with `checkpoint`, continue from its state if it has one
        and save one after every reporting point (objectives.checkpoint)."""
        cfg = resolve_config(self.name, self.params, config)
        rng = np.random.default_rng(seed)
        n, d = train.X.shape
        if cfg["flip"] and math.prod(image_shape) != d:
            raise ConfigError(f"'flip' needs image rows: {d} features are not an image of shape "
                              f"{image_shape}.")
        k = class_count(train, val)
        net = TwoLayerNet.init(d, cfg["hidden"], k, rng, lam=cfg["lambda"])
        n_s, total, points = schedule(cfg, n)
        lr_at = functools.partial(cyclical, eta_min=cfg["eta_min"], eta_max=cfg["eta_max"],
                                  n_s=n_s)
        with limited(cfg["threads"]) as pool:
            history = train_loop(
                net, Optimizer([net.flat_params]), train, val, pool.reporting(report),
                rng=rng, batch_size=cfg["batch_size"], total_steps=total,
                report_steps=set(points), lr_at=lr_at,
                flip=image_shape if cfg["flip"] else None, checkpoint=checkpoint, tick=pool.tick,
            )
        return RunResult(model=net, history=history)

    def planned_reports(self, config: Mapping[str, Any], n_train: int) -> int:
        """How many times fit will report."""
        return len(schedule(resolve_config(self.name, self.params, config), n_train)[2])


TWO_LAYER = TwoLayerObjective()

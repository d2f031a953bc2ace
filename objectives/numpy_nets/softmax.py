"""Multinomial logistic (softmax) regression in NumPy: cross-entropy + lambda * ||W||^2, any
batch size, five optimizers, four LR schedules with optional linear warm-up, and an optional
stop rule (halt once every parameter update stays below a threshold for N consecutive steps).
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
from objectives.numpy_nets.optimizers import OPTIMIZERS, make_optimizer
from objectives.numpy_nets.xent import CrossEntropyGrad
from objectives.schedules import SCHEDULES, learning_rate
from objectives.threads import THREADS_HELP, THREADS_LIMIT, limited

PARAMS: dict[str, Param] = {
    "epochs": Param("int", 20, "passes over the training split", low=1),
    "batch_size": Param("int", 100, "examples per update; 0 or more than the split = full batch",
                        low=0),
    "lr": Param("float", 0.005, "base learning rate (constant, step, exponential)", low=0.0),
    "optimizer": Param("str", "momentum", "update rule", choices=OPTIMIZERS),
    "momentum": Param("float", 0.9, "momentum / nesterov coefficient", low=0.0, high=1.0),
    "beta1": Param("float", 0.9, "adam first-moment decay", low=0.0, high=1.0),
    "beta2": Param("float", 0.999, "adam second-moment decay", low=0.0, high=1.0),
    "schedule": Param("str", "step", "learning-rate schedule", choices=SCHEDULES),
    "decay_rate": Param("float", 0.5, "step: multiply lr by this every decay_every epochs",
                        low=0.0, high=1.0),
    "decay_every": Param("int", 5, "step: epochs between decays", low=1),
    "exp_k": Param("float", 0.1, "exponential: lr * exp(-exp_k * epoch)", low=0.0),
    "eta_min": Param("float", 1e-5, "cyclical: lowest rate", low=0.0),
    "eta_max": Param("float", 1e-1, "cyclical: highest rate", low=0.0),
    "n_s": Param("int", 0, "cyclical: half-cycle in update steps; 0 = 2 epochs", low=0),
    "warmup_epochs": Param("float", 0.0, "linear warm-up length in epochs", low=0.0),
    "lambda": Param("float", 1e-4, "L2 penalty: cost = CE + lambda * ||W||^2", low=0.0),
    "stop_threshold": Param("float", 0.0, "stop rule: max |update| threshold; 0 = off", low=0.0),
    "stop_patience": Param("int", 0, "stop rule: consecutive small-update steps; 0 = off", low=0),
    "threads": Param("int", 0, THREADS_HELP, low=0, high=THREADS_LIMIT),
}


CHUNK_MACS = 6_000_000
"""Multiply-adds per GEMM (rows x d x K) in one chunk of a batch: 765 rows of MNIST, 195 of
CIFAR-10. Large enough that per-call overhead does not dominate, small enough that a chunk's
gathered rows (2.4 MB) are still in L3 for its second GEMM (docs/performance.md, "Speed")."""


class SoftmaxRegression:
    """Weights W (d, K), so scores are X @ W + b, and biases b (K,).

    Both live in one flat buffer (`flat_params`), as do their gradients: the optimizer steps that.
    Scores are m x K and the gradient is X^T (P - Y), because OpenBLAS runs these GEMMs faster than
    the transposed orientation (W^T X^T) for K = 10 (docs/performance.md, "Speed").
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, lam: float = 0.0) -> None:
        self.flat_params, self.params = flat_views([W, b])
        self.W, self.b = self.params
        self.flat_grads, self.grads = flat_views([np.zeros_like(p) for p in self.params])
        self.lam = lam
        self._gW_part, self._gb_part = np.empty_like(self.W), np.empty_like(self.b)
        self._buffers: dict[int, tuple[np.ndarray, ...]] = {}
        self._xent = CrossEntropyGrad()

    @classmethod
    def init(cls, d: int, k: int, rng: np.random.Generator, lam: float = 0.0,
             dtype: type = np.float32) -> SoftmaxRegression:
        """Small random weights (std 0.01), zero biases."""
        W = 0.01 * rng.standard_normal((k, d)).T  # a seed's weights, whatever W's layout
        return cls(W.astype(dtype, order="C"), np.zeros(k, dtype), lam)

    def scores(self, X: np.ndarray) -> np.ndarray:
        S: np.ndarray = X @ self.W
        S += self.b
        return S

    def cost(self, X: np.ndarray, y: np.ndarray) -> float:
        """Mean cross-entropy plus lambda * ||W||^2 (what the gradients differentiate)."""
        loss = evaluate(self, X, y)["loss"]
        return loss + self.lam * float(np.sum(self.W.astype(np.float64) ** 2))

    def _chunk_buffers(self, c: int, d: int) -> tuple[np.ndarray, ...]:
        """Scratch for a chunk of c rows: P (c, K), gathered rows and labels. Kept per
        chunk size (full chunk, last chunk of a batch, last batch), so a step allocates nothing."""
        if c not in self._buffers:
            k, dt = self.W.shape[1], self.W.dtype
            self._buffers[c] = (np.empty((c, k), dt), np.empty((c, d), dt), np.empty(c, np.int64))
        return self._buffers[c]

    def compute_grads(self, X: np.ndarray, y: np.ndarray) -> None:
        self.compute_grads_rows(X, y, None)

    def compute_grads_rows(self, X: np.ndarray, y: np.ndarray, rows: np.ndarray | None) -> None:
        """Gradient of the cost on X[rows], y[rows] (all of X when rows is None).

        Cache blocking: the batch is gathered and processed a chunk of rows at a time (see
        CHUNK_MACS), so each chunk is still in cache when the second GEMM reads it; a large batch
        then costs one pass over memory instead of three (gather, forward GEMM, gradient GEMM)."""
        m = X.shape[0] if rows is None else rows.shape[0]
        chunk = max(1, CHUNK_MACS // self.W.size)
        gW, gb = self.grads
        for start in range(0, m, chunk):
            stop = min(start + chunk, m)
            P, xc, yc = self._chunk_buffers(stop - start, X.shape[1])
            if rows is None:
                xc, yc = X[start:stop], y[start:stop]
            else:
                part = rows[start:stop]
                np.take(X, part, axis=0, out=xc, mode="clip")
                np.take(y, part, out=yc, mode="clip")
            np.matmul(xc, self.W, out=P)
            P += self.b
            self._xent(P, yc, 1.0 / m)
            if start == 0:
                np.matmul(xc.T, P, out=gW)
                self._xent.column_sums(P, out=gb)
            else:
                np.matmul(xc.T, P, out=self._gW_part)
                gW += self._gW_part
                self._xent.column_sums(P, out=self._gb_part)
                gb += self._gb_part
        if self.lam:
            axpy(self.W, gW, 2.0 * self.lam)

    def last_loss(self) -> float:
        """Mean cross-entropy (no L2) of the last compute_grads batch's last chunk of rows (the
        whole batch up to CHUNK_MACS), before its update."""
        return self._xent.loss()

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        return evaluate(self, X, y)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return predict(self, X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return predict_proba(self, X)

    def save(self, path: Path) -> Path:
        return save_npz(path, W=self.W, b=self.b)

    @classmethod
    def load(cls, path: Path) -> SoftmaxRegression:
        arrays = load_npz(path)
        return cls(arrays["W"], arrays["b"])


class SoftmaxObjective:
    """The `softmax` objective: trains SoftmaxRegression with the resolved config."""

    name = "softmax"
    params = PARAMS
    # One mean/std per channel, not per pixel: per-pixel std turns MNIST's almost-always-black
    # border pixels into huge outliers, which cost a linear model accuracy (docs/results.md).
    normalize = "channel"
    resumable = True
    mutable = frozenset({"lr", "lambda", "momentum", "beta1", "beta2", "eta_min", "eta_max",
                         "decay_rate", "exp_k"})
    """Read from the config by a continued fit: the schedule (`_lr`), the model's lambda and
    the optimizer's coefficients; the checkpoint holds only weights and optimizer arrays."""

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
        k = class_count(train, val)
        model = SoftmaxRegression.init(d, k, rng, lam=cfg["lambda"])
        batch = resolve_batch_size(cfg["batch_size"], n)
        per_epoch = math.ceil(n / batch)
        optimizer = make_optimizer(cfg["optimizer"], [model.flat_params], momentum=cfg["momentum"],
                                   beta1=cfg["beta1"], beta2=cfg["beta2"])
        lr_at = functools.partial(
            _lr, cfg=cfg, per_epoch=per_epoch, n_s=cfg["n_s"] or 2 * per_epoch)
        with limited(cfg["threads"]) as pool:
            history = train_loop(
                model, optimizer, train, val, pool.reporting(report),
                rng=rng, batch_size=batch, total_steps=cfg["epochs"] * per_epoch,
                report_steps={e * per_epoch for e in range(1, cfg["epochs"] + 1)}, lr_at=lr_at,
                stop_threshold=cfg["stop_threshold"], stop_patience=cfg["stop_patience"],
                checkpoint=checkpoint, tick=pool.tick,
            )
        return RunResult(model=model, history=history)

    def planned_reports(self, config: Mapping[str, Any], n_train: int) -> int:
        """How many times fit will report (at most; the stop rule may end it sooner)."""
        return int(resolve_config(self.name, self.params, config)["epochs"])


def _lr(step: int, *, cfg: Mapping[str, Any], per_epoch: int, n_s: int) -> float:
    return learning_rate(
        step, schedule=cfg["schedule"], steps_per_epoch=per_epoch, lr=cfg["lr"],
        decay_rate=cfg["decay_rate"], decay_every=cfg["decay_every"], exp_k=cfg["exp_k"],
        eta_min=cfg["eta_min"], eta_max=cfg["eta_max"], n_s=n_s,
        warmup_epochs=cfg["warmup_epochs"],
    )


SOFTMAX = SoftmaxObjective()

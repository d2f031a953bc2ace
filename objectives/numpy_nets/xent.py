"""Cross-entropy for the NumPy models: the in-place gradient with respect to a score matrix used
in the hot loop, and the float64 loss and hit count used for evaluation."""

from __future__ import annotations

import numpy as np

EXP_SAFE = 60.0
"""Scores within +-EXP_SAFE are exponentiated without the max shift: exp stays in float32 range
(row sums between e^-60 and K e^60 for K classes) and gives the same probabilities up to
rounding."""


class CrossEntropyGrad:
    """The gradient of mean cross-entropy with respect to a score matrix, in place, with scratch
    reused between calls (the hot loop allocates nothing); `loss` is the mean cross-entropy of
    the last call's rows, for the divergence checks.

    The softmax skips the usual per-row max shift while every score lies within +-EXP_SAFE
    (checked with two whole-array reductions), because NumPy reduces a 10-wide row slowly: a row
    max and a row sum would cost more than the rest of the softmax together, so the row sums are
    a BLAS matrix-vector product (docs/performance.md, "Speed"). Larger or NaN scores take the
    shifted path."""

    def __init__(self) -> None:
        self._ones_k = self._ones_rows = self._sums = self._target = self._inv = np.empty(
            0, np.float32)
        self._offsets = self._flat = np.empty(0, np.int64)
        self._rows = 0

    def _scratch(self, rows: int, classes: int, dtype: np.dtype) -> None:
        if (rows > self._sums.shape[0] or classes != self._ones_k.shape[0]
                or dtype != self._sums.dtype):
            self._ones_k = np.ones(classes, dtype)
            self._ones_rows = np.ones(rows, dtype)
            self._sums, self._target, self._inv = (np.empty(rows, dtype) for _ in range(3))
            self._offsets = np.arange(rows) * classes
            self._flat = np.empty(rows, np.int64)

    def __call__(self, S: np.ndarray, y: np.ndarray, scale: float) -> None:
        """S (rows, K), C-contiguous, becomes (softmax(S) - onehot(y)) * scale."""
        if not S.flags.c_contiguous:
            raise ValueError("CrossEntropyGrad needs a C-contiguous score matrix")
        c, k = S.shape
        self._scratch(c, k, S.dtype)
        self._rows = c
        flat = self._flat[:c]
        np.add(self._offsets[:c], y, out=flat)
        if not (S.max() < EXP_SAFE and S.min() > -EXP_SAFE):
            S -= S.max(axis=1, keepdims=True)
        # The true class's (shifted) score: the loss is log(row sum of exp) minus it.
        S.reshape(-1).take(flat, out=self._target[:c], mode="clip")
        np.exp(S, out=S)
        sums, inv = self._sums[:c], self._inv[:c]
        np.matmul(S, self._ones_k, out=sums)
        np.divide(scale, sums, out=inv)
        S *= inv[:, None]
        S.reshape(-1)[flat] -= scale

    def loss(self) -> float:
        """Mean cross-entropy of the last call's rows, from its row sums and true-class scores
        (float64; inf or nan when the scores were)."""
        c = self._rows
        if c == 0:
            return float("nan")
        logs = np.log(self._sums[:c], dtype=np.float64)
        return float(logs.sum() - self._target[:c].sum(dtype=np.float64)) / c

    def column_sums(self, A: np.ndarray, out: np.ndarray) -> None:
        """out = A.sum(axis=0) as a matrix-vector product (NumPy's reduction is slower here);
        A has at most the rows of the last call."""
        np.matmul(self._ones_rows[:A.shape[0]], A, out=out)


def cross_entropy_from_scores(S: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Summed cross-entropy (float64 log-sum-exp) and number of correct argmax predictions."""
    S64 = S.astype(np.float64)
    top = S64.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(S64 - top).sum(axis=1))
    loss = float((lse - S64[np.arange(len(y)), y]).sum())
    return loss, int((S.argmax(axis=1) == y).sum())

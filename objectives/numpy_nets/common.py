"""What the NumPy models share besides their training loop: the Net contract, parameters in one
flat buffer, batch sizes, evaluation, prediction and .npz weights."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from objectives.numpy_nets.xent import cross_entropy_from_scores


class Net(Protocol):
    """A NumPy model trainable by `train`: gradients land in `grads`, aligned with `params`;
    `flat_params` / `flat_grads` are all of them as one 1-D view each (what the optimizer steps)."""

    params: list[np.ndarray]
    grads: list[np.ndarray]
    flat_params: np.ndarray
    flat_grads: np.ndarray

    def compute_grads(self, X: np.ndarray, y: np.ndarray) -> None: ...

    def last_loss(self) -> float:
        """Mean cross-entropy from the forward pass of the last gradient computation
        (compute_grads or a fused step), so with the weights before that step's update."""
        ...

    def scores(self, X: np.ndarray) -> np.ndarray: ...

    def cost(self, X: np.ndarray, y: np.ndarray) -> float: ...


@runtime_checkable
class GathersRows(Protocol):
    """A Net that gathers its mini-batch rows itself (e.g. chunk by chunk, while they are hot)."""

    def compute_grads_rows(self, X: np.ndarray, y: np.ndarray, rows: np.ndarray | None
                           ) -> None: ...


@runtime_checkable
class StepsSGD(Protocol):
    """A Net with a fused plain-SGD step (gradient and update in one call, cheaper than
    compute_grads and Optimizer.step)."""

    def sgd_step(self, X: np.ndarray, y: np.ndarray, lr: float) -> None: ...


def flat_views(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """One contiguous 1-D buffer holding copies of `arrays`, and views of it shaped like them.

    Parameters live in such a buffer so the optimizer updates all of them with one NumPy call per
    operation instead of one per array (per-call overhead dominates small-batch steps)."""
    flat = np.empty(sum(a.size for a in arrays), dtype=np.result_type(*arrays))
    views, start = [], 0
    for a in arrays:
        view = flat[start:start + a.size].reshape(a.shape)
        view[...] = a
        views.append(view)
        start += a.size
    return flat, views


def resolve_batch_size(batch_size: int, n: int) -> int:
    """0, or anything above the number of examples, means full batch."""
    return n if batch_size <= 0 or batch_size > n else batch_size


def evaluate(net: Net, X: np.ndarray, y: np.ndarray, chunk: int = 8192) -> dict[str, float]:
    """Mean cross-entropy (no regulariser) and accuracy, scored in chunks to bound memory."""
    n = int(y.shape[0])
    if n == 0:
        return {"loss": float("nan"), "accuracy": float("nan")}
    total, correct = 0.0, 0
    for start in range(0, n, chunk):
        loss, hits = cross_entropy_from_scores(net.scores(X[start:start + chunk]),
                                               y[start:start + chunk])
        total += loss
        correct += hits
    return {"loss": total / n, "accuracy": correct / n}


def predict(net: Net, X: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Predicted class indices (int64)."""
    parts = [net.scores(X[s:s + chunk]).argmax(axis=1) for s in range(0, X.shape[0], chunk)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def predict_proba(net: Net, X: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Softmax class probabilities (n, classes), float64."""
    parts = []
    for start in range(0, X.shape[0], chunk):
        scores = net.scores(X[start:start + chunk]).astype(np.float64)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        parts.append(scores / scores.sum(axis=1, keepdims=True))
    return np.concatenate(parts) if parts else np.zeros((0, 0))


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    """Write arrays to `path` with the .npz suffix; return the file written."""
    target = Path(path).with_suffix(".npz")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as handle:
        np.savez(handle, allow_pickle=False, **arrays)
    return target


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Read arrays saved by save_npz (no pickles allowed)."""
    with np.load(Path(path), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}

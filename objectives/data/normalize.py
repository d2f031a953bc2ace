"""Scaling with statistics of the part that is trained on: the built-in images as
x -> (x / max - mean) / std (Normalizer), the user's tables by plain standardisation
(Standardizer, or none)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from objectives.data.catalog import MAX_VALUE


@dataclass(frozen=True)
class Normalizer:
    """x -> (x / max_value - mean) / std, as one multiply and one subtract per element."""

    factor: np.ndarray
    offset: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, name: str, how: str, image_shape: tuple[int, int, int]
            ) -> Normalizer:
        """Statistics of the uint8 array X (per feature or per channel), exact in integers."""
        d = X.shape[1]
        mean, std = np.zeros(d), np.ones(d)
        if how != "none" and len(X):
            s1, s2 = _sums(X)
            n = len(X)
            if how == "channel":
                channels = image_shape[0]
                n *= d // channels
                s1 = np.repeat(s1.reshape(channels, -1).sum(axis=1), d // channels)
                s2 = np.repeat(s2.reshape(channels, -1).sum(axis=1), d // channels)
            mean = s1 / n
            std = np.sqrt(np.maximum(s2 / n - mean * mean, 0.0))
            mean, std = mean / MAX_VALUE[name], std / MAX_VALUE[name]
            std[std < 1e-8] = 1.0
        factor = 1.0 / (MAX_VALUE[name] * std)
        return cls(factor.astype(np.float32), (mean / std).astype(np.float32))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        out = np.empty(X.shape, dtype=np.float32)
        np.multiply(X, self.factor, out=out)
        out -= self.offset
        return out


def _sums(X: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature sums of x and x**2 of a uint8 array, exact: 255**2 fits uint16, and a chunk
    of 256 rows of squares fits uint32, which keeps the passes narrow and fast."""
    s1 = X.sum(axis=0, dtype=np.int64)
    s2 = np.zeros(X.shape[1], dtype=np.int64)
    for start in range(0, len(X), chunk):
        block = X[start:start + chunk].astype(np.uint16)
        block *= block
        s2 += block.sum(axis=0, dtype=np.uint32)
    return s1, s2


@dataclass(frozen=True)
class Standardize:
    """x -> (x - mean) / std as float32 (picklable, like every part of a Dataset)."""

    mean: np.ndarray
    std: np.ndarray

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((X - self.mean) / self.std, dtype=np.float32)


@dataclass(frozen=True)
class Standardizer:
    """Fits a Standardize on the rows trained on: "none" keeps the numbers as they are,
    "feature" standardises each column, "channel" all columns with one mean and deviation.
    Statistics in float64."""

    how: str

    def __call__(self, rows: np.ndarray) -> Standardize:
        if self.how == "none" or not len(rows):
            mean, std = np.zeros(rows.shape[1]), np.ones(rows.shape[1])
        elif self.how == "feature":
            mean, std = rows.mean(axis=0), rows.std(axis=0)
        else:
            mean, std = np.full(rows.shape[1], rows.mean()), np.full(rows.shape[1], rows.std())
        return Standardize(mean, np.where(std < 1e-12, 1.0, std))

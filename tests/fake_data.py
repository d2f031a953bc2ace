"""Dataset files in the real formats with traceable fake content: MNIST IDX and CIFAR-10 pickle
batches whose images encode their own index, for tests that must not need the real data."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, *, gz: bool = True) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    raw = header + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw, compresslevel=1) if gz else raw)


def fake_images(n: int, features: int, start: int = 0) -> np.ndarray:
    """Images whose first two pixels encode their index, the rest random: traceable samples."""
    rng = np.random.default_rng(start)
    X = rng.integers(0, 256, (n, features), dtype=np.uint8)
    idx = np.arange(start, start + n)
    X[:, 0], X[:, 1] = idx % 256, idx // 256
    return X


def decode(X: np.ndarray) -> np.ndarray:
    """Sample indices back from images loaded with normalize='none'."""
    raw = np.rint(X[:, :2] * 255).astype(np.int64)
    return raw[:, 0] + 256 * raw[:, 1]


def make_mnist(folder: Path, n_train: int = 300, n_test: int = 50, *, gz: bool = True) -> Path:
    """MNIST-format IDX files (28x28) in `folder`; labels cycle 0..9."""
    suffix = ".gz" if gz else ""
    for part, n, start in (("train", n_train, 0), ("t10k", n_test, 10_000)):
        write_idx(folder / f"{part}-images-idx3-ubyte{suffix}",
                  fake_images(n, 784, start).reshape(n, 28, 28), gz=gz)
        write_idx(folder / f"{part}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, gz=gz)
    return folder


def make_cifar(folder: Path, per_batch: int = 20, n_test: int = 30) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    files = [(f"data_batch_{i + 1}", per_batch, i * per_batch) for i in range(5)]
    for name, n, start in files + [("test_batch", n_test, 10_000)]:
        batch = {b"data": fake_images(n, 3072, start), b"labels": [i % 10 for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    names = [b"plane", b"car", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship",
             b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
    return folder

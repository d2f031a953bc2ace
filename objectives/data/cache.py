"""Parsed dataset arrays cached as .npy under $TUNER_CACHE_DIR/arrays, keyed by the source files."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from objectives.data.catalog import Raw
from objectives.data.locate import cache_root

log = logging.getLogger(__name__)

CACHE_VERSION = "1"


def _cache_key(name: str, part: str, sources: Sequence[Path]) -> str:
    """Changes whenever a source file is replaced, resized or touched."""
    h = hashlib.sha256(CACHE_VERSION.encode())
    for path in sources:
        st = path.stat()
        h.update(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return f"{name}-{part}-{h.hexdigest()[:20]}"


def cached(name: str, part: str, sources: Sequence[Path], parse: Callable[[], Raw]) -> Raw:
    """Parsed arrays from $TUNER_CACHE_DIR/arrays when fresh, else parse and store them."""
    folder = cache_root() / "arrays"
    key = _cache_key(name, part, sources)
    x_path, y_path = folder / f"{key}.X.npy", folder / f"{key}.y.npy"
    if x_path.is_file() and y_path.is_file():
        try:
            X = np.load(x_path, mmap_mode="r", allow_pickle=False)
            y = np.load(y_path, allow_pickle=False)
            if X.dtype == np.uint8 and y.dtype == np.int64 and len(X) == len(y):
                return X, y
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable cache %s: %s", x_path, exc)
    X, y = parse()
    X, y = np.ascontiguousarray(X, dtype=np.uint8), np.ascontiguousarray(y, dtype=np.int64)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, array in ((x_path, X), (y_path, y)):
            _save_atomic(path, array)
    except OSError as exc:
        log.warning("cannot cache %s under %s: %s", name, folder, exc)
    return X, y


def _save_atomic(path: Path, array: np.ndarray) -> None:
    """Write to a temporary file and rename, so concurrent readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""Reader for CIFAR-10 python batches.

Every malformed file becomes a one-line DataError naming the file and what was wrong with it.
CIFAR-10 batches are pickles, so they go through a restricted unpickler that imports nothing:
the few numpy names the format uses are mapped to inert stand-ins and the array is rebuilt with
np.frombuffer, so a hostile pickle can neither run code nor feed numpy arbitrary state.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from objectives.errors import DataError

CIFAR_FEATURES = 3 * 32 * 32


class _NDArray:
    """Stands in for numpy.ndarray as the `subtype` argument of _reconstruct."""


class _Dtype:
    """Stands in for numpy.dtype: records the type code, ignores the state BUILD hands it."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = False) -> None:
        self.spec = spec.decode() if isinstance(spec, bytes) else spec

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _Array:
    """Stands in for an ndarray: BUILD hands it (version, shape, dtype, fortran, raw bytes)."""

    state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> _Array:
    if subtype is not _NDArray:
        raise DataError("The pickle asks numpy to rebuild something other than an ndarray; "
                        "CIFAR-10 batches hold only plain arrays.")
    return _Array()


def _latin1(text: Any, encoding: Any = "latin1") -> bytes:
    """Stands in for _codecs.encode, which Python 3 protocol-2 pickles use to carry bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise DataError("The pickle asks _codecs.encode for something other than latin-1 bytes.")
    return text.encode("latin-1")


_ALLOWED = {
    ("_codecs", "encode"): _latin1,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _NDArray,
    ("numpy", "dtype"): _Dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Imports nothing: the few names a CIFAR-10 batch uses map to inert stand-ins above."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"Refusing to unpickle {module}.{name}: a CIFAR-10 batch needs only dicts, "
                "lists, bytes, ints and uint8 numpy arrays."
            ) from None


def _to_array(obj: _Array, path: Path) -> np.ndarray:
    """Rebuild a uint8 array from the state an ndarray pickle carries, checking every part."""
    state = obj.state
    if not (isinstance(state, tuple) and len(state) == 5):
        raise DataError(f"{path} holds a malformed numpy array.")
    _, shape, dtype, fortran, raw = state
    if not isinstance(dtype, _Dtype) or dtype.spec not in ("u1", "|u1", "uint8"):
        spec = getattr(dtype, "spec", dtype)
        raise DataError(f"{path} holds a numpy array of type {spec!r}; expected uint8 ('u1').")
    if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
        raise DataError(f"{path} holds a numpy array with a malformed shape {shape!r}.")
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != math.prod(shape):
        size = len(raw) if isinstance(raw, (bytes, bytearray)) else type(raw).__name__
        raise DataError(f"{path} is truncated: an array of shape {shape} needs "
                        f"{math.prod(shape)} bytes, found {size}.")
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape, order="F" if fortran else "C")


def _unpickle(path: Path) -> dict[Any, Any]:
    try:
        with open(path, "rb") as fh:
            obj = RestrictedUnpickler(fh, encoding="bytes").load()
    except DataError:
        raise
    except OSError as exc:
        raise DataError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise DataError(f"{path} is truncated or not a CIFAR-10 python batch "
                        f"({type(exc).__name__}: {exc}).") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path} is not a CIFAR-10 python batch: expected a dict, "
                        f"got {type(obj).__name__}.")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 3072) channel-major, labels int64 (n,)) from one CIFAR-10 batch file."""
    batch = _unpickle(path)
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, _Array) or not isinstance(labels, list):
        raise DataError(f"{path} is not a CIFAR-10 python batch: expected keys 'data' "
                        "(uint8 array) and 'labels' (list of ints).")
    X = _to_array(data, path)
    if X.ndim != 2 or X.shape[1] != CIFAR_FEATURES:
        raise DataError(f"{path} has data of shape {X.shape}; expected (n, {CIFAR_FEATURES}).")
    if not all(isinstance(v, int) for v in labels):
        raise DataError(f"{path} has labels that are not all ints.")
    y = np.asarray(labels, dtype=np.int64)
    if len(y) != len(X):
        raise DataError(f"{path} has {len(X)} images but {len(y)} labels.")
    return X, y


def read_cifar_meta(path: Path) -> tuple[str, ...]:
    """Class names from a CIFAR-10 batches.meta file."""
    names = _unpickle(path).get("label_names")
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"{path} is not a CIFAR-10 batches.meta: expected 'label_names', "
                        "a list of strings.")
    return tuple(n.decode() if isinstance(n, bytes) else n for n in names)

"""BLAS level-1 helpers for the NumPy hot loops: updates NumPy can only do in two passes."""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas

_AXPY = {np.dtype(np.float32): blas.saxpy, np.dtype(np.float64): blas.daxpy}


def axpy(x: np.ndarray, y: np.ndarray, a: float) -> None:
    """y += a * x in place, in one pass over memory (NumPy needs two and a scratch array).
    x and y: C-contiguous arrays of one shape and dtype, float32 or float64."""
    if not (x.flags.c_contiguous and y.flags.c_contiguous and x.shape == y.shape
            and x.dtype == y.dtype and x.dtype in _AXPY):
        raise ValueError("axpy needs C-contiguous float32 or float64 arrays of one shape and dtype")
    _AXPY[y.dtype](x.reshape(-1), y.reshape(-1), a=a)

"""Reader for IDX files (MNIST, Fashion-MNIST), gzipped or not; a malformed file is one DataError
line naming the file and what was wrong with it."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from objectives.errors import DataError

IDX_UBYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
            fh.seek(0)
            if head != GZIP_MAGIC:
                return fh.read()
            with gzip.GzipFile(fileobj=fh) as gz:
                return gz.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path} is truncated or corrupt gzip data ({exc}).") from None
    except OSError as exc:
        raise DataError(f"Cannot read {path}: {exc.strerror or exc}.") from None


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes with `ndim` dimensions (1 = labels, 3 = images)."""
    data = _read_bytes(path)
    expected = (IDX_UBYTE << 8) | ndim
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if magic != expected:
        got = "a file shorter than 4 bytes" if magic is None else f"0x{magic:08X}"
        raise DataError(
            f"{path} has the wrong magic number: expected 0x{expected:08X} "
            f"(IDX, unsigned bytes, {ndim} dims), got {got}."
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated: the IDX header needs {header} bytes, "
                        f"found {len(data)}.")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = math.prod(shape)  # Python ints: a hostile header cannot overflow it
    found = len(data) - header
    if found < size:
        raise DataError(f"{path} is truncated: the header promises {size} bytes of data "
                        f"for shape {shape}, found {found}.")
    if found > size:
        raise DataError(f"{path} has {found - size} bytes after the data the header promises "
                        f"(shape {shape}); the file is not a valid IDX file.")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)

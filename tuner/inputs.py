"""Rows to predict on, as users hold them: a NumPy array, a DataFrame or a list of rows (any
real dtype; objectives.rows checks them), or a file: .npy, .npz, .csv, or a folder of PNG / JPEG
images. Each gives float64 (n, features) raw rows (pixel values as the dataset files hold
them), the name of each row's source and how the input was read (for the summary line); any
problem is one DataError line. Rows in == rows out: nothing here drops or adds a row.
"""

from __future__ import annotations

import math
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from objectives.data.files import csv_lines
from objectives.rows import Columns, InputShape, as_rows, frame_values, is_frame, match_columns
from tuner.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Rows:
    """Raw rows (n, features), one source name per row, and how they were read."""

    values: np.ndarray
    sources: list[str]
    how: str


def read_rows(source: Any, shape: InputShape, header: bool | None = None) -> Rows:
    """Rows from `source`: a path (str or Path), a DataFrame, a NumPy array or a list of rows.
    `header` (CSV files only): whether the first line names the columns; None: decided by
    `csv_header`."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if header is not None and (path.is_dir() or path.suffix.lower() != ".csv"):
            raise DataError(f"A header applies to CSV input only; {path} is not a .csv file.")
        if path.is_dir():
            values, sources = _images(path, shape)
            return Rows(values, sources, f"{path.name}/ ({len(values)} images)")
        values, how = _file(path, shape, header)
    elif header is not None:
        raise DataError(f"A header applies to CSV input only; got a {type(source).__name__}.")
    elif is_frame(source):
        values, columns = frame_values(source, shape)
        values, how = as_rows(values, shape), f"a DataFrame ({_columns(columns)})"
    else:
        kind = (f"a {source.dtype} array" if isinstance(source, np.ndarray)
                else f"a {type(source).__name__} of rows")
        values, how = as_rows(source, shape), kind
    return Rows(values, [str(i) for i in range(len(values))], how)


def _file(path: Path, shape: InputShape, header: bool | None) -> tuple[np.ndarray, str]:
    if not path.is_file():
        raise DataError(f"Input {path} does not exist; expected a .npy, .npz or .csv file or a "
                        f"folder of images.")
    suffix = path.suffix.lower()
    where = f"Input {path}"
    if suffix == ".csv":
        return _csv(path, shape, header)
    if suffix in (".npy", ".npz"):
        array = _array(path)
        return as_rows(array, shape, where), f"{path.name} ({array.dtype} array)"
    raise DataError(f"Input {path} has suffix {suffix or '(none)'}; expected .npy, .npz, "
                    f".csv or a folder of images.")


def _columns(columns: Columns) -> str:
    return "; ".join([columns.kind, *(f"dropped {d}" for d in columns.dropped)])


NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK"


def _array(path: Path) -> np.ndarray:
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(NPY_MAGIC))
    except OSError as exc:
        raise DataError(f"Input {path} cannot be read ({exc.strerror}).") from None
    if not magic.startswith((NPY_MAGIC, ZIP_MAGIC)):
        raise DataError(f"Input {path} is not a NumPy file (it does not start like one); "
                        f"expected a file written by numpy.save or numpy.savez.")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"Input {path} is not a readable NumPy file ({exc}).") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.files)
            key = "X" if "X" in keys else keys[0] if len(keys) == 1 else None
            if key is None:
                raise DataError(f"Input {path} holds arrays {', '.join(keys) or '(none)'}; "
                                f"expected one named X, or a single array.")
            loaded = loaded[key]
    return np.asarray(loaded)


def csv_header(first: list[str], shape: InputShape) -> bool:
    """Whether a CSV's first line is a header: it names the model's columns (with or without
    its target), is pandas' default column names 0..n-1, or is not all numbers."""
    cells = [c.strip() for c in first]
    names = set(shape.feature_names) | ({shape.target} if shape.target else set())
    return (bool(names) and set(cells) <= names) or cells == [str(i) for i in range(len(cells))] \
        or not all(_is_number(cell) for cell in cells)


def _csv(path: Path, shape: InputShape, header: bool | None) -> tuple[np.ndarray, str]:
    """Numbers, one row per line, below a header row where `header` (or csv_header) says."""
    lines = [row for _, row in csv_lines(path, f"Input {path}")]
    if not lines:
        raise DataError(f"Input {path} holds no rows of numbers.")
    named = csv_header(lines[0], shape) if header is None else header
    columns = match_columns(lines[0], shape, f"Input {path}") if named else None
    body = lines[1:] if named else lines
    if not body:
        raise DataError(f"Input {path} holds a header row and no rows of numbers.")
    width = len(lines[0]) if named else shape.features or len(lines[0])
    kept = len(columns.order) if columns and columns.order is not None else width
    if named and shape.features and kept != shape.features:
        without = f" ({kept} without {' and '.join(columns.dropped)})" \
            if columns and columns.dropped else ""
        raise DataError(f"Input {path}: its header row has {width} columns{without}; the model "
                        f"takes {shape.features}{_target_hint(shape)}.")
    out = np.empty((len(body), width))
    for number, row in enumerate(body, start=1):
        if len(row) != width:
            raise DataError(f"Input {path}, data row {number}: {len(row)} values; "
                            + (f"the header row has {width}." if named else
                               f"the model takes {width} per row{_target_hint(shape)}."))
        for column, cell in enumerate(row, start=1):
            try:
                value = float(cell)
            except ValueError:
                raise DataError(f"Input {path}, data row {number}, column {column}: {cell!r} "
                                f"is not a number.") from None
            if not math.isfinite(value):
                raise DataError(f"Input {path}, data row {number}, column {column}: {cell!r} "
                                f"is not a finite number.")
            out[number - 1, column - 1] = value
    if columns is not None and columns.order is not None:
        out = out[:, list(columns.order)]
    how = f"header row: {_columns(columns)}" if columns else "no header row"
    return as_rows(out, shape, f"Input {path}"), f"{path.name} ({how})"


def _target_hint(shape: InputShape) -> str:
    return (f" (without its target '{shape.target}': name the columns in a header row and "
            f"the target is dropped)" if shape.target else "")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _images(folder: Path, shape: InputShape) -> tuple[np.ndarray, list[str]]:
    """Every PNG / JPEG in `folder` (sorted by name), converted to the model's channels,
    resized to its image size and scaled to the dataset's pixel range, flattened (C, H, W)."""
    if shape.image_shape is None or shape.pixel_max is None:
        raise DataError(f"Input {folder} is a folder of images; this model takes table rows "
                        f"(.csv, .npy or .npz).")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"Input folder {folder} holds no .png, .jpg or .jpeg files.")
    from PIL import Image, UnidentifiedImageError

    channels, height, width = shape.image_shape
    rows = np.empty((len(files), channels * height * width))
    for i, file in enumerate(files):
        try:
            with warnings.catch_warnings():  # past MAX_IMAGE_PIXELS: refused, not decoded
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(file) as opened:
                    image = opened.convert("L" if channels == 1 else "RGB")
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float64)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            size = str(exc).split(",")[0]  # "Image size (N pixels) exceeds limit of M pixels"
            raise DataError(f"Image {file} is too large to read safely ({size}); expected an "
                            f"image of about {width}x{height} pixels.") from None
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise DataError(f"Image {file} cannot be read ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}).") from None
        pixels = pixels.reshape(height, width, -1).transpose(2, 0, 1)
        rows[i] = (pixels * (shape.pixel_max / 255.0)).reshape(-1)
    return rows, [p.name for p in files]


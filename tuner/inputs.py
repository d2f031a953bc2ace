"""Rows to predict on, from the files users have: .npy, .npz, .csv, or a folder of PNG / JPEG
images. Each reader gives float64 (n, features) raw rows (pixel values as the dataset files
hold them) and the name of each row's source; any problem is one DataError line."""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuner.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class InputShape:
    """What the model takes: `features` values per row (0: not known); images (C, H, W) with
    pixel values up to `pixel_max` (None for table models)."""

    features: int
    image_shape: tuple[int, int, int] | None = None
    pixel_max: float | None = None


def read_rows(path: Path, shape: InputShape) -> tuple[np.ndarray, list[str]]:
    """(float64 rows (n, features), one source name per row) from `path`."""
    if path.is_dir():
        return _images(path, shape)
    if not path.is_file():
        raise DataError(f"Input {path} does not exist; expected a .npy, .npz or .csv file or a "
                        f"folder of images.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv(path, shape.features)
    elif suffix in (".npy", ".npz"):
        rows = _array(path)
    else:
        raise DataError(f"Input {path} has suffix {suffix or '(none)'}; expected .npy, .npz, "
                        f".csv or a folder of images.")
    if not shape.features:  # a model that does not say its width: MLflow checks what it can
        return rows, [str(i) for i in range(len(rows))]
    if rows.ndim > 2 and int(np.prod(rows.shape[1:])) == shape.features:
        rows = rows.reshape(len(rows), shape.features)
    if rows.ndim == 1 and rows.size == shape.features:
        rows = rows.reshape(1, -1)
    if rows.ndim != 2 or rows.shape[1] != shape.features:
        raise DataError(f"Input {path} has shape {rows.shape}; the model takes rows of "
                        f"{shape.features} values (shape (n, {shape.features})).")
    return rows, [str(i) for i in range(len(rows))]


def _array(path: Path) -> np.ndarray:
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
    if not np.issubdtype(loaded.dtype, np.number) and loaded.dtype != np.bool_:
        raise DataError(f"Input {path} holds {loaded.dtype} values; expected numbers.")
    return np.asarray(loaded, dtype=np.float64)


def _csv(path: Path, features: int) -> np.ndarray:
    """Numbers, one row per line; a first line that is not all numbers is a header."""
    with path.open(newline="") as handle:
        lines = [row for row in csv.reader(handle) if row]
    if lines and not all(_is_number(cell) for cell in lines[0]):
        lines = lines[1:]
    if not lines:
        raise DataError(f"Input {path} holds no rows of numbers.")
    width = features or len(lines[0])  # a model that does not say: as wide as the first row
    out = np.empty((len(lines), width))
    for number, row in enumerate(lines, start=1):
        if len(row) != width:
            raise DataError(f"Input {path}, data row {number}: {len(row)} values; the model "
                            f"takes {width} per row.")
        for column, cell in enumerate(row, start=1):
            try:
                out[number - 1, column - 1] = float(cell)
            except ValueError:
                raise DataError(f"Input {path}, data row {number}, column {column}: {cell!r} "
                                f"is not a number.") from None
    return out


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
            with Image.open(file) as opened:
                image = opened.convert("L" if channels == 1 else "RGB")
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float64)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise DataError(f"Image {file} cannot be read ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}).") from None
        pixels = pixels.reshape(height, width, -1).transpose(2, 0, 1)
        rows[i] = (pixels * (shape.pixel_max / 255.0)).reshape(-1)
    return rows, [p.name for p in files]

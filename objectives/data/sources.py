"""The raw arrays of each built-in dataset: its training pool and a reader of its test split."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from objectives.data.cache import cached
from objectives.data.catalog import (
    CLASS_NAMES,
    DIGITS_TEST_FRACTION,
    IMAGE_SHAPES,
    TORCHVISION_CLASSES,
    Raw,
)
from objectives.data.cifar import read_cifar_batch, read_cifar_meta
from objectives.data.idx import read_idx
from objectives.data.locate import (
    default_data_root,
    find,
    missing_message,
    part_files,
    put_files,
)
from objectives.errors import DataError

log = logging.getLogger(__name__)


def source(name: str, data_dir: str | Path | None, download: bool
            ) -> tuple[Raw, Callable[[], Raw], tuple[str, ...]]:
    """(training pool, a reader of the test split, class names) for dataset `name`."""
    if name == "digits":
        return _digits_part("train"), partial(_digits_part, "test"), CLASS_NAMES["digits"]
    folder = find(name, data_dir)
    if folder is None and download:
        _download(name, default_data_root())
        folder = find(name, data_dir)
    if folder is None:
        raise DataError(missing_message(name, data_dir))
    if name == "cifar10":
        meta = folder / "batches.meta"
        names = read_cifar_meta(meta) if meta.is_file() else CLASS_NAMES[name]
        return _cifar_part(folder, "train"), partial(_cifar_part, folder, "test"), names
    return (_idx_part(name, folder, "train"), partial(_idx_part, name, folder, "test"),
            CLASS_NAMES[name])


def _idx_part(name: str, folder: Path, part: str) -> Raw:
    images_path, labels_path = part_files(name, folder, part)

    def parse() -> Raw:
        images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
        if images.shape[1:] != IMAGE_SHAPES[name][1:]:
            raise DataError(f"{images_path} holds images of shape {images.shape[1:]}; "
                            f"expected {IMAGE_SHAPES[name][1:]} for {name}.")
        if len(images) != len(labels):
            raise DataError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                            f"{len(labels)} labels.")
        return images.reshape(len(images), -1), labels.astype(np.int64)

    return cached(name, part, [images_path, labels_path], parse)


def _cifar_part(folder: Path, part: str) -> Raw:
    files = part_files("cifar10", folder, part)

    def parse() -> Raw:
        batches = [read_cifar_batch(path) for path in files]
        return (np.concatenate([b[0] for b in batches]),
                np.concatenate([b[1] for b in batches]))

    return cached("cifar10", part, files, parse)


def _digits_part(part: str) -> Raw:
    """sklearn's digits, split once into a FIXED stratified test part (20 %, seed 0)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    X = np.asarray(bunch.data, dtype=np.uint8)
    y = np.asarray(bunch.target, dtype=np.int64)
    train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=DIGITS_TEST_FRACTION,
                                           stratify=y, random_state=0)
    idx = train_idx if part == "train" else test_idx
    return np.ascontiguousarray(X[idx]), y[idx]


def _download(name: str, root: Path) -> None:
    """Fetch `name` through torchvision into `root` (train and test), for users with internet."""
    try:
        import torchvision.datasets as tvd
    except ImportError as exc:
        raise DataError(f"Cannot download {name}: torchvision is not importable ({exc}); "
                        f"{put_files(name)}.") from None
    dataset_cls = getattr(tvd, TORCHVISION_CLASSES[name])
    log.info("downloading %s into %s", name, root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        for train in (True, False):
            dataset_cls(root=str(root), train=train, download=True)
    except Exception as exc:  # noqa: BLE001 - network and archive errors come in many types
        raise DataError(f"Downloading {name} into {root} failed ({type(exc).__name__}: {exc}); "
                        f"check the internet connection, or {put_files(name)}.") from None

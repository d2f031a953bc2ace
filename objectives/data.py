"""Datasets by name: find the files, parse them once (cached as .npy), split and normalise.

`load(name)` hands out train and val only; the test split is read by `Dataset.final_splits`
and nowhere else, so a search can never peek at it. Normalisation statistics always come from
the part that is trained on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from objectives.base import Split
from objectives.errors import ConfigError, DataError
from objectives.formats import read_cifar_batch, read_cifar_meta, read_idx

log = logging.getLogger(__name__)

DATASETS = ("mnist", "fashion-mnist", "cifar10", "digits")
NORMALIZATIONS = ("feature", "channel", "none")
DEFAULT_VAL_SIZE = 5000
DIGITS_TEST_FRACTION = 0.2
DIGITS_VAL_FRACTION = 0.2
CACHE_VERSION = "1"

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
LAYOUTS = {
    "mnist": ("mnist", "MNIST/raw"),
    "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw"),
    "cifar10": ("cifar-10-batches-py",),
}
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}
TORCHVISION_CLASSES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}
CLASS_NAMES = {
    "mnist": tuple(str(i) for i in range(10)),
    "digits": tuple(str(i) for i in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"),
}
IMAGE_SHAPES = {
    "mnist": (1, 28, 28),
    "fashion-mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "digits": (1, 8, 8),
}
MAX_VALUE = {"mnist": 255.0, "fashion-mnist": 255.0, "cifar10": 255.0, "digits": 16.0}

Raw = tuple[np.ndarray, np.ndarray]  # (uint8 images (n, C*H*W), int64 labels (n,))


def cache_root() -> Path:
    """$TUNER_CACHE_DIR, else ~/.cache/tuner: parsed arrays and downloads live here."""
    env = os.environ.get("TUNER_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tuner"


def default_data_root() -> Path:
    """Where --download puts datasets; always searched."""
    return cache_root() / "data"


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset: normalised train and val splits, and the one door to the test split."""

    name: str
    classes: int
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    train: Split
    val: Split
    normalize: str
    seed: int
    _pool: Raw = field(repr=False)
    _train_idx: np.ndarray = field(repr=False)
    _val_idx: np.ndarray = field(repr=False)
    _read_test: Callable[[], Raw] = field(repr=False)

    def final_splits(self, monitor: int) -> tuple[Split, Split, Split]:
        """(train+val minus `monitor` held-out samples, the monitor split, the test split), all
        normalised with statistics of the first part. The ONLY place test files are read."""
        pool_idx = np.concatenate([self._train_idx, self._val_idx])
        valid = isinstance(monitor, int) and not isinstance(monitor, bool)
        if not (valid and 0 <= monitor < len(pool_idx)):
            raise ConfigError(f"The 'monitor' size must be an int in [0, {len(pool_idx) - 1}]. "
                              f"Got {monitor!r} instead.")
        order = np.random.default_rng(self.seed).permutation(pool_idx)
        fit_idx, monitor_idx = order[monitor:], order[:monitor]
        X_test, y_test = self._read_test()
        _check_labels(y_test, self.classes, f"{self.name} test split")
        X, y = self._pool
        norm = _Normalizer.fit(X[fit_idx], self.name, self.normalize, self.image_shape)
        return (
            Split(norm(X[fit_idx]), y[fit_idx]),
            Split(norm(X[monitor_idx]), y[monitor_idx]),
            Split(norm(X_test), y_test.astype(np.int64)),
        )


@dataclass(frozen=True)
class _Normalizer:
    """x -> (x / max_value - mean) / std, as one multiply and one subtract per element."""

    factor: np.ndarray
    offset: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, name: str, how: str, image_shape: tuple[int, int, int]
            ) -> _Normalizer:
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


def load(
    name: str,
    *,
    data_dir: str | Path | None = None,
    val_size: int | float | None = None,
    seed: int = 0,
    normalize: str = "feature",
    download: bool = False,
    train_limit: int | None = None,
) -> Dataset:
    """Load `name`, carve val from train with `seed`, normalise with train statistics.

    val_size: an int count or a float fraction in (0, 1); default 5,000 (20 % for digits).
    train_limit: keep only the first N samples of the shuffled train part (quick runs).
    """
    if name not in DATASETS:
        raise DataError(f"Unknown dataset '{name}'; valid datasets: {', '.join(DATASETS)}.")
    if normalize not in NORMALIZATIONS:
        raise ConfigError(f"The 'normalize' argument must be one of: "
                          f"{', '.join(NORMALIZATIONS)}. Got {normalize!r} instead.")
    if train_limit is not None and (isinstance(train_limit, bool)
                                    or not isinstance(train_limit, int) or train_limit < 1):
        raise ConfigError(f"The 'train_limit' argument must be an int in [1, inf) or None. "
                          f"Got {train_limit!r} instead.")
    pool, read_test, class_names = _source(name, data_dir, download)
    X, y = pool
    classes = len(class_names)
    _check_labels(y, classes, f"{name} training data")
    n_val = _val_count(val_size, len(y), name)
    train_idx, val_idx = _split(y, n_val, seed, stratify=name == "digits")
    if train_limit is not None:
        train_idx = train_idx[:train_limit]
    shape = IMAGE_SHAPES[name]
    norm = _Normalizer.fit(X[train_idx], name, normalize, shape)
    return Dataset(
        name=name,
        classes=classes,
        class_names=class_names,
        image_shape=shape,
        train=Split(norm(X[train_idx]), y[train_idx]),
        val=Split(norm(X[val_idx]), y[val_idx]),
        normalize=normalize,
        seed=seed,
        _pool=pool,
        _train_idx=train_idx,
        _val_idx=val_idx,
        _read_test=read_test,
    )


def _val_count(val_size: int | float | None, n: int, name: str) -> int:
    """The number of validation samples, checked against the `n` available."""
    if val_size is None:
        val_size = DIGITS_VAL_FRACTION if name == "digits" else DEFAULT_VAL_SIZE
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float)):
        raise ConfigError(f"The 'val_size' argument must be an int count or a float in (0, 1). "
                          f"Got {val_size!r} instead.")
    if isinstance(val_size, float):
        if not 0.0 < val_size < 1.0:
            raise ConfigError(f"The 'val_size' fraction must be in (0, 1). "
                              f"Got {val_size!r} instead.")
        count = int(round(val_size * n))
    else:
        count = val_size
    if not 1 <= count < n:
        raise ConfigError(f"The 'val_size' must leave at least one sample on each side: "
                          f"{name} has {n} training samples, val_size={val_size!r} gives {count}.")
    return count


def _split(y: np.ndarray, n_val: int, seed: int, *, stratify: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, val indices): a seeded shuffle, stratified by label when asked."""
    if stratify:
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(y))
        train_idx, val_idx = train_test_split(idx, test_size=n_val, stratify=y, random_state=seed)
        return np.asarray(train_idx), np.asarray(val_idx)
    order = np.random.default_rng(seed).permutation(len(y))
    return order[n_val:], order[:n_val]


def _check_labels(y: np.ndarray, classes: int, what: str) -> None:
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= classes):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise DataError(f"Label {bad} in the {what} is out of range: expected 0..{classes - 1}.")


def _source(name: str, data_dir: str | Path | None, download: bool
            ) -> tuple[Raw, Callable[[], Raw], tuple[str, ...]]:
    """(training pool, a reader of the test split, class names) for dataset `name`."""
    if name == "digits":
        return _digits_part("train"), partial(_digits_part, "test"), CLASS_NAMES["digits"]
    folder = _find(name, data_dir)
    if folder is None and download:
        _download(name, default_data_root())
        folder = _find(name, data_dir)
    if folder is None:
        raise DataError(_missing_message(name, data_dir))
    if name == "cifar10":
        meta = folder / "batches.meta"
        names = read_cifar_meta(meta) if meta.is_file() else CLASS_NAMES[name]
        return _cifar_part(folder, "train"), partial(_cifar_part, folder, "test"), names
    return (_idx_part(name, folder, "train"), partial(_idx_part, name, folder, "test"),
            CLASS_NAMES[name])


def _search_dirs(name: str, data_dir: str | Path | None) -> list[Path]:
    """Every folder that may hold `name`, in the order they are tried."""
    roots: list[Path] = []
    explicit = data_dir if data_dir is not None else os.environ.get("TUNER_DATA_DIR")
    if explicit:
        roots.append(Path(explicit).expanduser())
    roots.append(default_data_root())
    dirs = [root / sub for root in roots for sub in LAYOUTS[name]]
    return dirs + list(SYSTEM_DIRS.get(name, ()))


def _expected_files(name: str, part: str) -> tuple[str, ...]:
    return CIFAR_FILES[part] if name == "cifar10" else MNIST_FILES[part]


def _resolve(folder: Path, stem: str, name: str) -> Path | None:
    """The file `stem` in `folder`; IDX files may also be gzipped (stem.gz)."""
    for candidate in (stem,) if name == "cifar10" else (stem, stem + ".gz"):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _find(name: str, data_dir: str | Path | None) -> Path | None:
    """The first folder holding all of `name`'s training files (test files are not checked)."""
    for folder in _search_dirs(name, data_dir):
        if all(_resolve(folder, f, name) for f in _expected_files(name, "train")):
            return folder
    return None


def _put_files(name: str) -> str:
    return (f"put the files in ROOT/{LAYOUTS[name][0]}/ and pass --data-dir ROOT "
            "(or set TUNER_DATA_DIR)")


def _how_to_get(name: str) -> str:
    hint = f"pass --download (needs internet), or {_put_files(name)}"
    if name == "fashion-mnist":
        hint += " or `apt-get install dataset-fashion-mnist`"
    return hint


def _missing_message(name: str, data_dir: str | Path | None) -> str:
    files = ", ".join(_expected_files(name, "train"))
    where = ", ".join(str(d) for d in _search_dirs(name, data_dir))
    gz = "" if name == "cifar10" else " (optionally .gz)"
    return f"Dataset {name} not found: looked for {files}{gz} in {where}; {_how_to_get(name)}."


def _part_files(name: str, folder: Path, part: str) -> list[Path]:
    files = []
    for stem in _expected_files(name, part):
        path = _resolve(folder, stem, name)
        if path is None:
            gz = "" if name == "cifar10" else "[.gz]"
            raise DataError(f"Dataset {name} {part} file {stem}{gz} is missing from {folder}; "
                            f"{_how_to_get(name)}.")
        files.append(path)
    return files


def _idx_part(name: str, folder: Path, part: str) -> Raw:
    images_path, labels_path = _part_files(name, folder, part)

    def parse() -> Raw:
        images, labels = read_idx(images_path, 3), read_idx(labels_path, 1)
        if images.shape[1:] != IMAGE_SHAPES[name][1:]:
            raise DataError(f"{images_path} holds images of shape {images.shape[1:]}; "
                            f"expected {IMAGE_SHAPES[name][1:]} for {name}.")
        if len(images) != len(labels):
            raise DataError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                            f"{len(labels)} labels.")
        return images.reshape(len(images), -1), labels.astype(np.int64)

    return _cached(name, part, [images_path, labels_path], parse)


def _cifar_part(folder: Path, part: str) -> Raw:
    files = _part_files("cifar10", folder, part)

    def parse() -> Raw:
        batches = [read_cifar_batch(path) for path in files]
        return (np.concatenate([b[0] for b in batches]),
                np.concatenate([b[1] for b in batches]))

    return _cached("cifar10", part, files, parse)


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


def _cache_key(name: str, part: str, sources: Sequence[Path]) -> str:
    """Changes whenever a source file is replaced, resized or touched."""
    h = hashlib.sha256(CACHE_VERSION.encode())
    for path in sources:
        st = path.stat()
        h.update(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return f"{name}-{part}-{h.hexdigest()[:20]}"


def _cached(name: str, part: str, sources: Sequence[Path], parse: Callable[[], Raw]) -> Raw:
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


def _download(name: str, root: Path) -> None:
    """Fetch `name` through torchvision into `root` (train and test), for users with internet."""
    try:
        import torchvision.datasets as tvd
    except ImportError as exc:
        raise DataError(f"Cannot download {name}: torchvision is not importable ({exc}); "
                        f"{_put_files(name)}.") from None
    dataset_cls = getattr(tvd, TORCHVISION_CLASSES[name])
    log.info("downloading %s into %s", name, root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        for train in (True, False):
            dataset_cls(root=str(root), train=train, download=True)
    except Exception as exc:  # noqa: BLE001 - network and archive errors come in many types
        raise DataError(f"Downloading {name} into {root} failed ({type(exc).__name__}: {exc}); "
                        f"check the internet connection, or {_put_files(name)}.") from None

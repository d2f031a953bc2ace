"""Where dataset files are looked for, and the one-line messages when they are missing."""

from __future__ import annotations

import os
from pathlib import Path

from objectives.data.catalog import CIFAR_FILES, LAYOUTS, MNIST_FILES, SYSTEM_DIRS
from objectives.errors import DataError


def cache_root() -> Path:
    """$TUNER_CACHE_DIR, else ~/.cache/tuner: parsed arrays and downloads live here."""
    env = os.environ.get("TUNER_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tuner"


def default_data_root() -> Path:
    """Where --download puts datasets; always searched."""
    return cache_root() / "data"


def search_dirs(name: str, data_dir: str | Path | None) -> list[Path]:
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


def find(name: str, data_dir: str | Path | None) -> Path | None:
    """The first folder holding all of `name`'s training files (test files are not checked)."""
    for folder in search_dirs(name, data_dir):
        if all(_resolve(folder, f, name) for f in _expected_files(name, "train")):
            return folder
    return None


def put_files(name: str) -> str:
    return (f"put the files in ROOT/{LAYOUTS[name][0]}/ and pass --data-dir ROOT "
            "(or set TUNER_DATA_DIR)")


def _how_to_get(name: str) -> str:
    hint = f"pass --download (needs internet), or {put_files(name)}"
    if name == "fashion-mnist":
        hint += " or `apt-get install dataset-fashion-mnist`"
    return hint


def missing_message(name: str, data_dir: str | Path | None) -> str:
    files = ", ".join(_expected_files(name, "train"))
    where = ", ".join(str(d) for d in search_dirs(name, data_dir))
    gz = "" if name == "cifar10" else " (optionally .gz)"
    return f"Dataset {name} not found: looked for {files}{gz} in {where}; {_how_to_get(name)}."


def part_files(name: str, folder: Path, part: str) -> list[Path]:
    files = []
    for stem in _expected_files(name, part):
        path = _resolve(folder, stem, name)
        if path is None:
            gz = "" if name == "cifar10" else "[.gz]"
            raise DataError(f"Dataset {name} {part} file {stem}{gz} is missing from {folder}; "
                            f"{_how_to_get(name)}.")
        files.append(path)
    return files

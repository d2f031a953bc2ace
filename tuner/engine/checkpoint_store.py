"""Where trial checkpoints live: a folder (beside a SQLite storage by default) or an S3 prefix,
as an Optuna artifact store, and how often a trial saves one ($TUNER_CHECKPOINT_EVERY)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from optuna.artifacts import FileSystemArtifactStore

from tuner.errors import SpecError
from tuner.storage.sqlite import sqlite_file

CHECKPOINT_DIR_ENV = "TUNER_CHECKPOINT_DIR"
CHECKPOINT_EVERY_ENV = "TUNER_CHECKPOINT_EVERY"
DEFAULT_EVERY = 30.0


def checkpoint_location(storage_url: str, given: str | None) -> str:
    """Where checkpoints go: `given`, else $TUNER_CHECKPOINT_DIR, else checkpoints/ beside a
    SQLite storage file (or in the current folder). A folder, or s3://BUCKET[/PREFIX]."""
    chosen = given or os.environ.get(CHECKPOINT_DIR_ENV)
    if chosen and chosen.startswith("s3://"):
        return "s3://" + chosen.removeprefix("s3://").strip("/")
    if chosen:
        return str(Path(chosen).resolve())
    db = sqlite_file(storage_url)
    return str((db.resolve().parent if db is not None else Path.cwd()) / "checkpoints")


def local_folder(location: str) -> Path | None:
    """The checkpoint folder on this machine, None for an S3 location."""
    return None if location.startswith("s3://") else Path(location)


ArtifactStore = Any  # Optuna's artifact store protocol (FileSystem, Boto3, ...) is private


def checkpoint_store(location: str) -> ArtifactStore:
    """Optuna's FileSystemArtifactStore for a folder; its Boto3ArtifactStore (keys under the
    prefix) for s3://BUCKET/PREFIX, which needs boto3 and AWS credentials as boto3 finds them."""
    folder = local_folder(location)
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpecError(f"The checkpoint folder {folder} cannot be created ({exc.strerror}); "
                            f"expected a folder this process can write (--checkpoint-dir, "
                            f"$TUNER_CHECKPOINT_DIR), or pass --no-checkpoints.") from None
        return FileSystemArtifactStore(str(folder))
    try:
        import boto3  # noqa: F401 - Optuna's S3 store needs it
    except ImportError:
        raise SpecError(f"Checkpoints in {location} need boto3: pip install boto3.") from None
    from optuna.artifacts import Boto3ArtifactStore

    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    return _Prefixed(Boto3ArtifactStore(bucket), prefix)


class _Prefixed:
    """An artifact store whose keys all start with `prefix/` (Optuna's S3 store has no prefix)."""

    def __init__(self, store: Any, prefix: str) -> None:
        self.store, self.prefix = store, f"{prefix.strip('/')}/" if prefix.strip("/") else ""

    def open_reader(self, artifact_id: str) -> Any:
        return self.store.open_reader(self.prefix + artifact_id)

    def write(self, artifact_id: str, content_body: Any) -> None:
        self.store.write(self.prefix + artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        self.store.remove(self.prefix + artifact_id)


def every_seconds() -> float:
    """$TUNER_CHECKPOINT_EVERY (seconds >= 0; inf: never), else DEFAULT_EVERY."""
    raw = os.environ.get(CHECKPOINT_EVERY_ENV, "").strip()
    if not raw:
        return DEFAULT_EVERY
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:
        raise SpecError(f"${CHECKPOINT_EVERY_ENV}={raw!r} is not a number of seconds; expected "
                        "a number >= 0 (0 saves at every report, inf never).")
    return seconds


def check_checkpoints(storage_url: str, given: str | None) -> None:
    """Refuse bad checkpoint settings before anything is written (SpecError, one line): the
    interval, and a location that is a file or an S3 URL without a bucket."""
    every_seconds()
    location = checkpoint_location(storage_url, given)
    if location.startswith("s3://"):
        if not location.removeprefix("s3://").partition("/")[0]:
            raise SpecError(f"The checkpoint location {location!r} names no bucket; expected "
                            "s3://BUCKET[/PREFIX].")
        return
    there = next(p for p in (Path(location), *Path(location).parents) if p.exists())
    if not there.is_dir():
        raise SpecError(f"The checkpoint folder {location} (--checkpoint-dir, "
                        f"${CHECKPOINT_DIR_ENV}) {'is' if str(there) == location else 'is in'} "
                        f"a file{'' if str(there) == location else f' ({there})'}; expected "
                        "a folder, or s3://BUCKET[/PREFIX].")

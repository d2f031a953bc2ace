"""A fit's state in a folder, so a killed run continues exactly where it stopped.

An objective that supports it (its `resumable` is True) takes `fit(..., checkpoint=...)`: it
calls `load_*` once at the start and, when that gives a state, continues from it; after each
reporting point it calls `save_*` with everything needed to go on bit for bit (weights,
optimizer state, every random state, the data order, the history). NumPy states are one .npz
of arrays plus JSON for the small values; torch states one torch.save file of tensors and plain
values, read back with weights_only=True. Nothing is ever unpickled.

Each save records the SHA-256 of the file it wrote (`digest`); before any load, `refusal(path)`
says whether the file may be read: here always (a folder of one's own), while the tuner's
subclasses compare the file with the digest they stored in Optuna when it was saved. A file
refused, or one that cannot be read, is not loaded: `refused(why)` warns and the fit starts from
scratch (load_* return None), never fails on it.

With `stop_after` set (Population Based Training runs a member one interval at a time), the fit
saves its state right after reporting step `stop_after`, whatever `due()` says and even when it
is the run's last step, and returns its RunResult there, its history ending at that step. A
later fit on the same folder continues from that state; its config values of the objective's
`mutable` params (base.Objective) replace those the state was trained with. A run whose last
step comes before `stop_after` ends there as it would without it.

Each save replaces the previous file atomically (written aside, then renamed): a kill while
writing leaves the previous checkpoint, which still loads. The tuner copies the file to its
artifact store after each save (tuner/...); tests use the folder as it is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

ARRAYS = "state.npz"
TORCH = "state.pt"
META_KEY = "__meta__"

log = logging.getLogger(__name__)


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Checkpoint:
    """The checkpoint files of one run, in `folder`."""

    def __init__(self, folder: Path, min_interval: float = 0.0, *,
                 stop_after: int | None = None) -> None:
        self.folder = Path(folder)
        self.min_interval = min_interval
        """Seconds between saves: a reporting point sooner after the last save is skipped."""
        self.stop_after = stop_after
        """The reporting step after which the fit saves and returns (None: run to the end)."""
        self.saves = 0
        self.seconds = 0.0
        """Time spent saving (writing, and for the tuner's subclass uploading)."""
        self._last = time.monotonic() if min_interval > 0 else -math.inf
        """The first save comes min_interval seconds into the run (short runs save none)."""
        self.digest: str | None = None
        """SHA-256 of the file the last save wrote."""

    def due(self) -> bool:
        """Whether a reporting point now should save (objectives ask before building a state)."""
        return time.monotonic() - self._last >= self.min_interval

    def ends_at(self, step: int) -> bool:
        """Whether the fit stops at reporting step `step` (saving there): `stop_after` is
        reached. A fit whose loaded state is already that far returns at once, untrained (a
        run killed after its last save is run again)."""
        return self.stop_after is not None and step >= self.stop_after

    def load_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """(arrays, meta) of the last save_arrays, or None (none, or refused)."""
        path = self.folder / ARRAYS
        if not self._trusted(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files if k != META_KEY}
                meta = json.loads(str(data[META_KEY]))
        except Exception as exc:  # noqa: BLE001 - any unreadable file: start from scratch
            self.refused(f"it cannot be read ({type(exc).__name__}: {exc})")
            return None
        return arrays, meta

    def save_arrays(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        def write(path: Path) -> None:
            with path.open("wb") as handle:
                np.savez(handle, allow_pickle=False, **arrays,
                         **{META_KEY: np.array(json.dumps(meta))})

        self._replace(ARRAYS, write)

    def load_torch(self) -> dict[str, Any] | None:
        """The dict of the last save_torch (tensors and plain values), or None (none, or
        refused)."""
        import torch

        path = self.folder / TORCH
        if not self._trusted(path):
            return None
        try:
            state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file: start from scratch
            self.refused(f"it cannot be read ({type(exc).__name__}: {exc})")
            return None
        return state

    def _trusted(self, path: Path) -> bool:
        """Whether `path` exists and may be loaded (refusal says no: refused, then False)."""
        if not path.is_file():
            return False
        why = self.refusal(path)
        if why is not None:
            self.refused(why)
        return why is None

    def refusal(self, path: Path) -> str | None:
        """Why the checkpoint file at `path` must not be loaded, or None: here None (a folder
        of one's own); the tuner checks the SHA-256 it recorded when the file was saved."""
        return None

    def refused(self, why: str) -> None:
        """The checkpoint is not loaded, because `why`: the fit starts from scratch."""
        log.warning("checkpoint in %s not loaded: %s; training from the start", self.folder,
                    why)

    def save_torch(self, state: Mapping[str, Any]) -> None:
        import torch

        self._replace(TORCH, lambda path: torch.save(dict(state), path))

    def _replace(self, name: str, write: Any) -> None:
        start = time.perf_counter()
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        write(tmp)
        self.digest = sha256_file(tmp)
        os.replace(tmp, self.folder / name)
        self.saves += 1
        self._last = time.monotonic()
        self.seconds += time.perf_counter() - start

    def files(self) -> list[Path]:
        """The saved state files (none before the first save)."""
        return [p for p in (self.folder / ARRAYS, self.folder / TORCH) if p.is_file()]

"""The final retrain's checkpoint: a folder under the checkpoint folder named by the study, the
trial it retrains and its config, so a rerun of the same final continues it (and a different
one never does). Like a trial's, it has two slots (a/ and b/): each save writes the slot the
record does not name, then records that slot and the file's SHA-256 in the searched study's
system attrs, so a kill at any moment leaves a recorded, whole checkpoint. A rerun loads the
recorded slot's file only when its digest is the recorded one, else warns and retrains from
scratch."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from optuna.storages import BaseStorage

from objectives.checkpoint import ARRAYS, TORCH, Checkpoint
from tuner.engine.checkpoint_store import checkpoint_location, every_seconds, local_folder
from tuner.engine.checkpoints import mismatch

log = logging.getLogger("tuner")

PREFIX = "final_checkpoint:"
"""A study system attr PREFIX + key holds {"slot", "sha256"} of that final's last save."""


class FinalCheckpoint(Checkpoint):
    """A Checkpoint in `root`/a or `root`/b, its saves recorded in the study `study_id` of
    `storage` as `attr`."""

    def __init__(self, root: Path, storage: BaseStorage, study_id: int, attr: str) -> None:
        self.root, self.storage, self.study_id, self.attr = root, storage, study_id, attr
        self.record: Mapping[str, Any] = storage.get_study_system_attrs(study_id).get(attr) or {}
        super().__init__(root / str(self.record.get("slot", "a")), every_seconds())
        for old in (root / ARRAYS, root / TORCH):  # an older tuner's, without slot or digest
            if old.is_file():
                self.refused("it has no recorded SHA-256 (saved by an older tuner)")
                old.unlink()

    def _replace(self, name: str, write: Any) -> None:
        slot = "b" if self.record.get("slot") == "a" else "a"
        self.folder = self.root / slot
        super()._replace(name, write)
        self.record = {"slot": slot, "sha256": self.digest}
        self.storage.set_study_system_attr(self.study_id, self.attr, dict(self.record))

    def refusal(self, path: Path) -> str | None:
        return mismatch(path, self.record.get("sha256"))

    def refused(self, why: str) -> None:
        log.warning("final: its checkpoint in %s not loaded: %s; training from the start",
                    self.root, why)
        for path in self.files():
            path.unlink()


def final_checkpoint(ctx: Any, stage: str, trial: int, config: Mapping[str, Any]
                     ) -> FinalCheckpoint | None:
    """The final's checkpoint when the study keeps them (None when off)."""
    if ctx.checkpoints is None:
        return None
    key = hashlib.sha256(json.dumps([stage, trial, dict(config)], sort_keys=True,
                                    default=str).encode()).hexdigest()[:16]
    location = checkpoint_location(ctx.options.storage_url, ctx.options.checkpoint_dir)
    root = local_folder(location) or Path.cwd() / "checkpoints"  # the final runs here
    folder = root / "final" / f"{ctx.spec.name.replace('/', '_')}-{key}"
    study_id = ctx.storage.get_study_id_from_name(stage)
    checkpoint = FinalCheckpoint(folder, ctx.storage, study_id, PREFIX + key)
    saved = checkpoint.files()
    if saved and checkpoint.refusal(saved[0]) is None:
        log.info("final: continuing from its checkpoint in %s", folder)
    return checkpoint

"""Trial checkpoints in an Optuna artifact store, so a trial that stops (its worker killed, Ctrl-C,
SIGTERM) is continued, not restarted, by whichever worker runs it again.

A resumable objective (objectives.checkpoint) saves its state after reporting points, at most
every CHECKPOINT_EVERY seconds ($TUNER_CHECKPOINT_EVERY); each save goes to the study's artifact
store (a FileSystemArtifactStore: `checkpoints/` beside a SQLite storage, or --checkpoint-dir /
$TUNER_CHECKPOINT_DIR), replacing the trial's previous one, and the trial's user attr
"checkpoint" names it, with the SHA-256 of its bytes (set after the file is stored: a file
whose digest no attr records is never loaded). A trial re-queued for a dead worker copies its
user attrs (Optuna's RetryHeartbeatStaleTrialCallback, with its intermediate values); an
interrupted one is queued again here with that attr. The trial that runs it downloads the
checkpoint and checks its SHA-256 before anything reads it: one missing, damaged, changed or
unrecorded (an older tuner's) is refused with a WARNING naming the trial and why, and the trial
trains from scratch. Otherwise the objective continues from it, and the steps before it are
reported again to MLflow (the whole curve) and, where missing, to Optuna. A trial that ends for
good deletes its checkpoint and the one it resumed from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import download_artifact

from objectives.checkpoint import ARRAYS, TORCH, Checkpoint, sha256_file
from tuner.engine.checkpoint_store import ArtifactStore, every_seconds
from tuner.search.pbt import GENERATION

log = logging.getLogger("tuner")

ATTR = "checkpoint"
REFUSED_ATTR = "checkpoint_refused"
"""Why a trial's checkpoint was not loaded (it trained from scratch)."""


def mismatch(path: Path, recorded: Any) -> str | None:
    """Why the file at `path` does not match the SHA-256 `recorded` when it was saved, or None."""
    if not recorded:
        return "it has no recorded SHA-256 (saved by an older tuner)"
    actual = sha256_file(path)
    if actual != recorded:
        return (f"its SHA-256 {actual[:12]}... is not the {str(recorded)[:12]}... recorded when "
                "it was saved (the file was damaged or changed)")
    return None


def trial_key(storage_url: str, study_name: str, number: int) -> str:
    """The store key stem of a trial's checkpoint: unique per storage, study and trial."""
    where = hashlib.sha256(storage_url.encode()).hexdigest()[:8]
    return f"{where}-{study_name.replace('/', '__')}-{number}"


def params_digest(params: Mapping[str, Any]) -> str:
    """A short SHA-256 of a trial's params: a checkpoint continues only the params it was for."""
    text = json.dumps(dict(params), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _well_formed(record: Any) -> bool:
    """A checkpoint record as TrialCheckpoint writes it (no other file names, no other keys)."""
    return (isinstance(record, Mapping) and isinstance(record.get("id"), str)
            and record.get("file") in (ARRAYS, TORCH)
            and all(isinstance(slot, str) for slot in record.get("slots", [])))


def forget(store: ArtifactStore, record: Mapping[str, Any]) -> None:
    """Delete a trial's checkpoint (both slots its record names) from `store`; one already
    gone is no error."""
    for artifact in record.get("slots", [record.get("id")]):
        try:
            store.remove(str(artifact))
        except Exception:  # noqa: BLE001 - already gone
            pass


class ParentCheckpointLost(Exception):
    """A PBT member's parent checkpoint could not be loaded: the member fails, it does not
    train from scratch."""


class TrialCheckpoint(Checkpoint):
    """objectives.checkpoint.Checkpoint in a local folder, each save also uploaded to `store`
    as the trial's one checkpoint. `on_restore(history)` runs when the objective loads one."""

    def __init__(self, folder: Path, store: ArtifactStore, trial: optuna.Trial,
                 on_restore: Callable[[list[dict[str, float]]], None], key: str, *,
                 stop_after: int | None = None, shared: bool = False,
                 required: bool = False) -> None:
        super().__init__(folder, every_seconds(), stop_after=stop_after)
        self.store = store
        self.trial = trial
        self.key = key
        """The trial's two store keys are KEY-a and KEY-b: each save overwrites the one the
        trial's attr does not name, then names it, so a kill at any point leaves a named,
        whole checkpoint, and no file that nothing names."""
        self.shared = shared
        """A PBT member's (engine/pbt.py): the checkpoint it continues is its parent's, which
        other members may continue too and whose params may differ from its own; it must be
        loaded (the member fails rather than train from scratch), and neither it nor the one
        this trial saves is deleted here (the stage deletes a generation's when done)."""
        self.required = required
        """The trial must continue a checkpoint (a PBT member after its first generation)."""
        self.on_restore = on_restore
        recorded = trial.user_attrs.get(ATTR)
        self.saved_by = recorded.get("trial", "?") if isinstance(recorded, Mapping) else "?"
        """The number of the trial that saved the checkpoint this one may continue."""
        self.origin: Mapping[str, Any] | None = (
            recorded if recorded is None or _well_formed(recorded) else None)
        self.current: dict[str, Any] | None = None
        self.resumed_at = 0
        self.resumed_epoch = 0.0
        why = ("its record is not one this tuner writes" if recorded is not None and
               self.origin is None else self._misfit(self.origin) if self.origin else None)
        if why is not None:
            self.refused(why)
        elif self.origin is not None:
            self._download(self.origin)

    def _misfit(self, origin: Mapping[str, Any]) -> str | None:
        """Why the record cannot be this trial's to continue (before anything is read)."""
        if not origin.get("sha256"):
            return "it has no recorded SHA-256 (saved by an older tuner)"
        if not self.shared and origin.get("params") != params_digest(self.trial.params):
            return "it was saved for other params than this trial's"
        return None

    def _download(self, origin: Mapping[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            download_artifact(artifact_store=self.store, artifact_id=str(origin["id"]),
                              file_path=str(self.folder / str(origin["file"])))
        except Exception as exc:  # noqa: BLE001 - a lost checkpoint: train from the start
            self.refused(f"its file cannot be read ({type(exc).__name__}: {exc})")

    def refusal(self, path: Path) -> str | None:
        """A file is loaded only when its SHA-256 is the one recorded when it was saved."""
        return mismatch(path, self.origin.get("sha256") if self.origin else None)

    def refused(self, why: str) -> None:
        """Not continued: warn, say why in the trial's attrs, delete the refused checkpoint;
        the objective trains from scratch."""
        origin = self.origin
        log.warning("trial %d: checkpoint of trial %s not loaded: %s; training from the start",
                    self.trial.number, self.saved_by, why)
        self.trial.set_user_attr(REFUSED_ATTR, why)
        self.trial.set_user_attr(ATTR, None)  # names nothing now (a retry starts afresh too)
        for name in (ARRAYS, TORCH):
            (self.folder / name).unlink(missing_ok=True)
        if origin is not None and not self.shared:
            self._forget(origin)
        self.origin = None
        self.problem = why

    problem: str | None = None
    """Why the checkpoint this trial was to continue was not loaded."""

    def _required(self, loaded: Any) -> Any:
        """A PBT member past its first generation continues its parent's checkpoint, or fails
        (ParentCheckpointLost) rather than train from scratch."""
        if loaded is None and self.required:
            raise ParentCheckpointLost(
                f"the checkpoint of trial {self.saved_by} it continues was not loaded: "
                f"{self.problem or 'its file is missing'}")
        return loaded

    def load_arrays(self) -> Any:
        loaded = super().load_arrays()
        if loaded is not None:
            self._restored(loaded[1]["history"])
        return self._required(loaded)

    def load_torch(self) -> Any:
        loaded = super().load_torch()
        if loaded is not None:
            self._restored(loaded["history"])
        return self._required(loaded)

    def _restored(self, history: list[dict[str, float]]) -> None:
        self.resumed_at = len(history)
        self.resumed_epoch = float(history[-1].get("epoch", len(history))) if history else 0.0
        log.info("trial %d: continuing trial %s from its checkpoint at step %d",
                 self.trial.number, self.origin.get("trial") if self.origin else "?",
                 self.resumed_at)
        self.on_restore(history)

    def _replace(self, name: str, write: Any) -> None:
        super()._replace(name, write)
        start = time.perf_counter()
        slot = "b" if self.current is not None and self.current["id"].endswith("-a") else "a"
        artifact = f"{self.key}-{slot}"
        with open(self.folder / name, "rb") as body:
            self.store.write(artifact, body)
        first = self.current is None
        self.current = {"id": artifact, "file": name, "trial": self.trial.number,
                        "slots": [f"{self.key}-a", f"{self.key}-b"], "sha256": self.digest,
                        "params": params_digest(self.trial.params)}
        self.trial.set_user_attr(ATTR, self.current)
        if first and self.origin is not None and not self.shared:  # the one it continued
            self._forget(self.origin)
        self.seconds += time.perf_counter() - start

    def _forget(self, ref: Mapping[str, Any]) -> None:
        forget(self.store, ref)

    def discard(self) -> None:
        """The trial ended for good: its checkpoint and the one it resumed from go (a PBT
        member's stay: the next generation continues them)."""
        if self.shared:
            return
        for ref in (self.current, self.origin, {"id": self.key, "slots": [
                f"{self.key}-a", f"{self.key}-b"]}):
            if ref is not None:
                self._forget(ref)

    def resume_later(self, study: optuna.Study, keep: Mapping[str, Any]) -> None:
        """An interrupted trial: queue its params again with its latest checkpoint and the
        user attrs `keep` (what it is: a confirm repeat's candidate and repeat)."""
        latest = self.current or self.origin
        if latest is None:
            return
        study.enqueue_trial(dict(self.trial.params), user_attrs={**keep, ATTR: dict(latest)})
        log.info("trial %d: queued to continue from its checkpoint", self.trial.number)




def member_checkpoint(folder: Path, store: ArtifactStore, trial: optuna.Trial,
                      on_restore: Callable[[list[dict[str, float]]], None], key: str,
                      interval: int) -> TrialCheckpoint:
    """A PBT member's (engine/pbt.py): it trains one generation, from the end of the one
    before (its parent's checkpoint, which it must load past the first generation) to its own
    end, where it saves (stop_after)."""
    generation = int(trial.user_attrs.get(GENERATION, 0))
    return TrialCheckpoint(folder, store, trial, on_restore, key, shared=True,
                           stop_after=(generation + 1) * interval, required=generation > 0)

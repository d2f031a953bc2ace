"""The final of a PBT stage's answer: its member's schedule replayed from scratch (PBT replay),
or with `[final] use = "member"` the winning member's weights as they are.

The winning member's lineage (search/pbt.lineage) says which params were in force from which
reporting step; the final trains one generation at a time with that generation's params,
stopping after its last step and continuing from that state in a local folder
(objectives.checkpoint: stop_after), so the replayed run changes its params at exactly the
steps the member did. It trains with the member's training seed on the final's data
(train+val less its monitor split): on the search's own split it would be the member's run.

The member's weights are its last generation's checkpoint, loaded (after its SHA-256 is
checked) into the objective without training another step: no retraining cost, but trained on
the train split only (never on val) and chosen on that val split.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import download_artifact
from optuna.trial import FrozenTrial

from objectives.base import Reporter, RunResult, Split, no_report
from objectives.checkpoint import Checkpoint
from tuner.engine.checkpoint_store import checkpoint_location, checkpoint_store
from tuner.engine.checkpoints import ATTR as CHECKPOINT_ATTR
from tuner.engine.checkpoints import mismatch
from tuner.engine.context import Context
from tuner.errors import TunerError
from tuner.search import pbt as decide
from tuner.spec import Stage

log = logging.getLogger("tuner")


def replay(ctx: Context, stage: Stage, study: optuna.Study, trial: FrozenTrial, train: Split,
           monitor: Split, report: Reporter) -> tuple[RunResult, list[dict[str, Any]]]:
    """Train `trial`'s lineage's schedule from scratch on `train` (judged on `monitor`);
    the run and the schedule it followed."""
    assert stage.pbt is not None
    spec = ctx.spec
    chain = decide.lineage(study.get_trials(deepcopy=False), trial)
    plan = decide.schedule(chain, stage.pbt.interval)
    seed = decide.member_seed(spec.seed, chain[0].user_attrs)
    log.info("final: replaying member %s's schedule over %d generations", plan[-1]["member"],
             len(plan))
    result = None
    with tempfile.TemporaryDirectory(prefix="tuner-replay-") as tmp:
        for index, entry in enumerate(plan):
            config: Mapping[str, Any] = {**spec.stage_fixed(stage), **entry["params"],
                                         **spec.final.overrides}
            checkpoint = Checkpoint(Path(tmp), math.inf,
                                    stop_after=(index + 1) * stage.pbt.interval)
            extra = {"checkpoint": checkpoint}  # every resumable objective takes one
            result = spec.objective.fit(config, train, monitor, report, seed,
                                        ctx.data.image_shape, **extra)
    assert result is not None
    return result, plan


def member_model(ctx: Context, stage: Stage, trial: FrozenTrial, train: Split, monitor: Split
                 ) -> RunResult:
    """The winning member's model from its last checkpoint, not trained further (its history
    is the member's, judged on the search's val split; a longer run stops there too)."""
    spec = ctx.spec
    record = trial.user_attrs.get(CHECKPOINT_ATTR)
    if not isinstance(record, Mapping) or "id" not in record:
        raise TunerError(f"final.use = member: trial {trial.number} has no stored checkpoint "
                         "(run the stage with checkpoints); use = \"replay\" retrains it.")
    store = ctx.checkpoints or checkpoint_store(checkpoint_location(
        ctx.options.storage_url, ctx.options.checkpoint_dir))
    config = {**spec.stage_fixed(stage), **trial.params}
    with tempfile.TemporaryDirectory(prefix="tuner-member-") as tmp:
        path = Path(tmp) / str(record["file"])
        try:
            download_artifact(artifact_store=store, artifact_id=str(record["id"]),
                              file_path=str(path))
        except Exception as exc:  # noqa: BLE001 - any lost file: one line
            raise TunerError(f"final.use = member: trial {trial.number}'s checkpoint cannot be "
                             f"read ({type(exc).__name__}: {exc}).") from None
        why = mismatch(path, record.get("sha256"))
        if why is not None:
            raise TunerError(f"final.use = member: trial {trial.number}'s checkpoint is not "
                             f"loaded: {why}.")
        seed = decide.member_seed(spec.seed, trial.user_attrs)
        stop = Checkpoint(Path(tmp), math.inf, stop_after=int(trial.user_attrs.get("steps", 0)))
        extra = {"checkpoint": stop}  # loaded at its last step: it returns untrained
        return spec.objective.fit(config, train, monitor, no_report, seed, ctx.data.image_shape,
                                  **extra)

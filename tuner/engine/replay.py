"""The final of a PBT stage's answer: its member's schedule replayed from scratch (PBT replay).

The winning member's lineage (search/pbt.lineage) says which params were in force from which
reporting step; the final trains one generation at a time with that generation's params,
stopping after its last step and continuing from that state in a local folder
(objectives.checkpoint: stop_after), so the replayed run changes its params at exactly the
steps the member did. It trains with the member's training seed on the final's data
(train+val less its monitor split): on the search's own split it would be the member's run.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from objectives.base import Reporter, RunResult, Split
from objectives.checkpoint import Checkpoint
from tuner.engine.context import Context
from tuner.search import pbt as decide
from tuner.spec import Stage
from tuner.spec.model import SEED_LIMIT

log = logging.getLogger("tuner")


def replay(ctx: Context, stage: Stage, study: optuna.Study, trial: FrozenTrial, train: Split,
           monitor: Split, report: Reporter) -> tuple[RunResult, list[dict[str, Any]]]:
    """Train `trial`'s lineage's schedule from scratch on `train` (judged on `monitor`);
    the run and the schedule it followed."""
    assert stage.pbt is not None
    spec = ctx.spec
    chain = decide.lineage(study.get_trials(deepcopy=False), trial)
    plan = decide.schedule(chain, stage.pbt.interval)
    seed = (spec.seed + int(chain[0].user_attrs.get(decide.MEMBER, 0))) % SEED_LIMIT
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

"""A refine stage's warm start in the loop (the copies themselves: search/warm_start.py):
made once, by the one worker that claims it, before any worker asks the stage's first trial,
and only where the copied values mean what the stage's own will."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import optuna

from tuner.engine.context import Context
from tuner.engine.stage_run import claim
from tuner.search.trials import COPIES_SUFFIX
from tuner.search.warm_start import warm_start
from tuner.spec import ParamSpace, Stage, StudySpec

log = logging.getLogger("tuner")


WARM_ATTR = "warm_started"
"""Set on the stage study once its copies are in: how many."""
CLAIM_WAIT_SECONDS = 60.0
POLL_SECONDS = 0.2


def start_warm(ctx: Context, study: optuna.Study, source: optuna.Study, stage: Stage,
               space: Sequence[ParamSpace]) -> None:
    """Copy `source`'s trials inside `space` into the refine stage's `study` when it starts
    warm: the worker that claims the copying makes them; the others wait for them (at most
    CLAIM_WAIT_SECONDS: a claimer that died in between is replaced, the copies it made already
    are not made twice), so no worker asks a trial of the stage before its copies are in."""
    if not _warm(ctx.spec, stage) or study.user_attrs.get(WARM_ATTR) is not None:
        return
    assert stage.refine is not None
    if not claim(ctx, study, COPIES_SUFFIX):  # another worker copies: wait for it
        deadline = time.monotonic() + CLAIM_WAIT_SECONDS
        while study.user_attrs.get(WARM_ATTR) is None and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        if study.user_attrs.get(WARM_ATTR) is not None:
            return
    added = warm_start(study, source, stage.refine.source, space)
    study.set_user_attr(WARM_ATTR, added)
    log.info("stage %s: starts with %d trials of stage %s inside its box (copied, not "
             "trained again)", stage.name, added, stage.refine.source)


def _warm(spec: StudySpec, stage: Stage) -> bool:
    """Whether `stage` starts with copies of its source's trials (search/warm_start.py): asked
    for, one objective, and the same fixed params in both stages (else the copied values would
    measure another training)."""
    refine = stage.refine
    return (refine is not None and refine.warm_start and not spec.multi
            and spec.stage_fixed(stage) == spec.stage_fixed(spec.stage(refine.source)))

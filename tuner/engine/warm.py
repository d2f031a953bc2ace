"""A refine stage's warm start in the loop (the copies themselves: search/warm_start.py):
made once, by the one worker that claims it, where the copied values mean what the stage's
own will."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import optuna
from optuna.study import StudyDirection

from tuner.engine.context import Context
from tuner.search.trials import COPIES_SUFFIX
from tuner.search.warm_start import warm_start
from tuner.spec import ParamSpace, Stage, StudySpec

log = logging.getLogger("tuner")


def start_warm(ctx: Context, study: optuna.Study, source: optuna.Study, stage: Stage,
               space: Sequence[ParamSpace]) -> None:
    """Copy `source`'s trials inside `space` into the refine stage's `study`, when it starts
    warm and this worker claims the copying."""
    if not (_warm(ctx.spec, stage) and _claim_copies(ctx, study)):
        return
    assert stage.refine is not None
    added = warm_start(study, source, stage.refine.source, space)
    log.info("stage %s: starts with %d trials of stage %s inside its box (copied, not "
             "trained again)", stage.name, added, stage.refine.source)


def _claim_copies(ctx: Context, study: optuna.Study) -> bool:
    """True for the one worker whose create of the record study `NAME/STAGE#copies` succeeds:
    it alone copies the warm start, however many workers start the stage together."""
    try:
        ctx.storage.create_new_study([StudyDirection.MINIMIZE], study.study_name + COPIES_SUFFIX)
    except optuna.exceptions.DuplicatedStudyError:
        return False
    return True


def _warm(spec: StudySpec, stage: Stage) -> bool:
    """Whether `stage` starts with copies of its source's trials (search/warm_start.py): asked
    for, one objective, and the same fixed params in both stages (else the copied values would
    measure another training)."""
    refine = stage.refine
    return (refine is not None and refine.warm_start and not spec.multi
            and spec.stage_fixed(stage) == spec.stage_fixed(spec.stage(refine.source)))

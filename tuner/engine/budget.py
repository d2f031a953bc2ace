"""A study's wall-time budget at run time: from when this process starts its stages, each
stage still to run gets the time left times its share of the trial counts of it and the stages
after it (a stage without a trial count weighs as much as the average one), as its timeout (or
its own timeout, when shorter). A stage that ends early leaves its unspent time to the later
ones; one that runs out of its share ends for this run only (a rerun, with a budget of its own,
continues it), and a stage that would start with no time left, or refine from a stage with no
complete trial yet, is not started. Each process (--jobs and cluster workers too) counts from
its own start."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence

from tuner.spec import Stage

log = logging.getLogger("tuner")


def with_share(stage: Stage, later: Sequence[Stage], deadline: float) -> Stage:
    """`stage` with its share of the time left before `deadline` (monotonic) as its timeout;
    `later`: the stages after it still to run."""
    counts = [s.trials for s in (stage, *later) if s.trials is not None]
    average = sum(counts) / len(counts) if counts else 1.0
    weights = [float(s.trials) if s.trials is not None else average for s in (stage, *later)]
    left = max(0.0, deadline - time.monotonic())
    share = left * weights[0] / sum(weights)
    if stage.timeout is not None and stage.timeout <= share:
        return stage  # its own timeout comes first
    log.info("stage %s: %.0f s of the study's budget (%.0f s left for %d stages)",
             stage.name, share, left, 1 + len(later))
    return dataclasses.replace(stage, timeout=max(share, 1e-3), budgeted=True)

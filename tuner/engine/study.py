"""A whole study in this process: every stage in order (each its own Optuna study in one
storage), resumable by running it again."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import optuna

from tuner.engine.context import Context
from tuner.engine.interrupts import Interrupted, interruptible
from tuner.engine.stage import run_stage
from tuner.results import StageResult
from tuner.storage import mask, storage_errors

log = logging.getLogger("tuner")


@contextmanager
def optuna_warnings_only() -> Iterator[None]:
    """Keep Optuna's per-study INFO lines ("A new study created ...") off the console for the
    duration: the tuner logs its own line per trial."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def run_stages(ctx: Context) -> list[StageResult]:
    """Every stage of the study, in order. Ctrl-C raises KeyboardInterrupt once the running
    trial is told FAIL "interrupted"."""
    url = ctx.options.storage_url
    log.info("study %s on %s", ctx.spec.name, mask(url))
    try:
        with interruptible(), storage_errors(url):
            return [run_stage(ctx, stage) for stage in ctx.spec.stages]
    except Interrupted:
        raise KeyboardInterrupt from None

"""Ctrl-C (or SIGTERM, what systemd, Kubernetes and batch schedulers send) during a study: the
first stops at the running trial's next report (that trial is told FAIL "interrupted"), a second
stops at once; one while the process exits ends it at once (stop_now). The flag, not an
exception raised from the signal handler, carries the first one: raising there could land
inside a finalizer or a library's weakref callback, where Python prints "Exception ignored ...
Traceback" and carries on."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import optuna
from optuna.trial import TrialState

from tuner.storage import beating_by_hand


class Interrupted(Exception):
    """Ctrl-C reached a running trial, which was already told FAIL."""


SIGINT_SEEN = threading.Event()
"""Set by the first Ctrl-C; the loop between trials and every report() raise KeyboardInterrupt
when it is set."""


def stop_now(signum: int, frame: Any) -> None:
    """Ctrl-C (or SIGTERM) while the process exits: what is left is cleanup (MLflow's queue,
    threads being joined), where a KeyboardInterrupt would print "Exception ignored ...
    Traceback". Stop at once instead: one line, exit code 130; the storage's transactions
    keep what was stored, and running the command again resumes."""
    os.write(2, b"interrupted: stopped now\n")
    os._exit(130)


def stop_now_from_here() -> None:
    """Until the process ends, Ctrl-C and SIGTERM stop it at once (stop_now); for the end of a
    process's main function (main thread only), never for a library call."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop_now)


def on_sigint(signum: int, frame: Any) -> None:
    if SIGINT_SEEN.is_set():
        raise KeyboardInterrupt  # a second Ctrl-C: stop now, wherever we are
    SIGINT_SEEN.set()
    what = b"SIGTERM: " if signum == signal.SIGTERM else b""
    os.write(2, what + b"stopping at the running trial's next report (Ctrl-C again to stop "
             b"now)\n")


@contextmanager
def interruptible() -> Iterator[None]:
    """Install on_sigint for SIGINT and SIGTERM for the duration (main thread only; elsewhere
    signals can't be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    SIGINT_SEEN.clear()
    previous = {sig: signal.signal(sig, on_sigint) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def check_interrupted() -> None:
    """Raise KeyboardInterrupt when a Ctrl-C was seen."""
    if SIGINT_SEEN.is_set():
        raise KeyboardInterrupt


def ask(study: optuna.Study) -> tuple[optuna.Trial, bool]:
    """study.ask() -> (trial, interrupted). Ctrl-C is held until ask() returns: the trial is in
    storage before then, and an interrupt inside would leave a RUNNING trial nobody can name.
    (Also silences Optuna's warning that heartbeats expect optimize(): we beat ourselves.)"""
    held: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    hold = (threading.current_thread() is threading.main_thread()
            and previous in (signal.default_int_handler, on_sigint))

    def hold_sigint(signum: int, frame: Any) -> None:
        SIGINT_SEEN.set()
        held.append(signum)

    if hold:
        signal.signal(signal.SIGINT, hold_sigint)
    try:
        with beating_by_hand():
            trial = study.ask()
    finally:
        if hold:
            signal.signal(signal.SIGINT, previous)
    return trial, bool(held)


def tell_interrupted(study: optuna.Study, trial: optuna.Trial) -> None:
    """Fail a trial hit by Ctrl-C at once, so the next run need not wait to fail it."""
    with suppress(optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError):
        trial.set_user_attr("reason", "interrupted")
        study.tell(trial, state=TrialState.FAIL)

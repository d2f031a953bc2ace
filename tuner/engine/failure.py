"""What a trial failed by its objective's exception leaves behind, and where.

Its last line (`ExcType: message`, one line, shortened) is the trial's user attr "reason": what
`tuner show` prints and the stage's error line quotes. The traceback goes to the log at WARNING
with exc_info (as Optuna logs a failed trial) and to the artifact error.txt of the trial's MLflow
run; it is not put in the Optuna storage, where a deep traceback would cost every reader.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from tuner.tracking import ERROR_ARTIFACT

MAX_REASON_CHARS = 300


@dataclass
class Failure:
    """An objective's exception: its last line, its traceback as text, and the exception itself
    for the log's exc_info (dropped once logged: it holds the fit's frames and their arrays)."""

    line: str
    text: str
    exc: BaseException | None

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        return cls(error_line(exc), "".join(traceback.format_exception(exc)), exc)


def error_line(exc: BaseException, limit: int = MAX_REASON_CHARS) -> str:
    """`ExcType: message` as a traceback ends, on one line and at most `limit` characters."""
    message = " ".join(str(exc).split())
    line = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return line if len(line) <= limit else line[:limit - 3] + "..."


def traceback_place(number: int, run_id: str | None) -> str:
    """Where trial `number`'s full traceback is: its MLflow run's error.txt, or the log."""
    if run_id:
        return (f"Trial {number}'s traceback: artifact {ERROR_ARTIFACT} of MLflow run {run_id} "
                "(and the log above).")
    return f"Trial {number}'s traceback is in the log above."

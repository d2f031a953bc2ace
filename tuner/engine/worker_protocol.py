"""What a parent and the worker processes it starts (`--jobs`, `--cluster`) agree on: the
command, the environment variables that carry the job, the exit code of an interrupted worker
and the logging setup. Kept apart from engine/worker_process.py, the worker's own entry point,
so that importing the tuner never imports the module `python -m` is about to run."""

from __future__ import annotations

import logging
import sys

WORKER_COMMAND = (sys.executable, "-m", "tuner.engine.worker_process")
WORKER_ENV = "TUNER_WORKER"
PARENT_ENV = "TUNER_DASK_WORKER_PID"
INTERRUPTED = 130
NOISY_LOGGERS = ("alembic", "mlflow", "urllib3", "matplotlib", "PIL")


def configure_logging(level: int) -> None:
    """The tuner's lines on stderr at `level`; other libraries' only from WARNING up."""
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    logging.getLogger("tuner").setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))

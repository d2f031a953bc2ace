"""The process of one worker that `--jobs N` starts on this machine and `--cluster` starts on a
Dask worker: `python -m tuner.engine.worker_process`, with everything it needs as data in its
environment (no command line to rebuild, nothing a `ps` listing shows; the names are in
engine/worker_protocol.py):

- TUNER_WORKER: JSON {"study": NAME, "options": RunOptions.to_dict(), "log": LEVEL}; the
  study's spec is the one stored in the storage (engine/spec_store.py);
- TUNER_STORAGE and MLFLOW_TRACKING_URI: where the study and its tracking live;
- TUNER_WORKER_INDEX: its index among the workers (sampler seeds);
- the thread variables of its share of the cores (set before any library starts its pool).

It prints its summary nowhere (its parent shows the study's), its errors as one line on stderr
("error: ..."), and exits 0, 1 (an error) or 130 (interrupted), like `tuner worker`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys

from tuner.engine.worker_protocol import INTERRUPTED, PARENT_ENV, WORKER_ENV, configure_logging


def bind_to_parent() -> None:
    """In a worker process started by a Dask task: die with the Dask worker (Linux's
    PR_SET_PDEATHSIG), so a killed Dask worker leaves no training behind."""
    parent = os.environ.get(PARENT_ENV, "")
    if not parent.isdigit() or not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(parent):  # it died before the call
        os._exit(1)


def main() -> int:
    job = json.loads(os.environ[WORKER_ENV])
    configure_logging(logging.getLevelNamesMapping().get(job.get("log", "INFO"), logging.INFO))

    bind_to_parent()  # started by a Dask task: die with its Dask worker

    from objectives.errors import ObjectiveError
    from tuner.engine.study import optuna_warnings_only, run_worker
    from tuner.errors import TunerError
    from tuner.options import RunOptions

    try:
        options = RunOptions.from_dict(job["options"], storage=os.environ.get("TUNER_STORAGE"),
                                       tracking_uri=os.environ.get("MLFLOW_TRACKING_URI"))
        with optuna_warnings_only():
            run_worker(job["study"], options, stored_only=True)
    except (TunerError, ObjectiveError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return INTERRUPTED
    finally:
        from tuner.engine.interrupts import stop_now_from_here

        stop_now_from_here()  # Ctrl-C while it exits: no traceback
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One SQLite file shared by several processes at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import optuna
from paths import ROOT

from tuner.storage import (
    open_storage,
)

WORKER = textwrap.dedent(
    """
    import sys
    import optuna
    from tuner.storage import open_storage
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="race", storage=open_storage(sys.argv[1]))
    study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1) ** 2, n_trials=int(sys.argv[2]))
    """
)


def test_sqlite_file_shared_by_four_processes_has_no_lock_errors(storage_url: str) -> None:
    """Four processes writing trials as fast as they can into one SQLite file: no
    'database is locked', every trial COMPLETE, trial numbers unique."""
    optuna.create_study(storage=open_storage(storage_url), study_name="race")
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, storage_url, "40"], cwd=ROOT,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [proc.communicate(timeout=120)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], errors
    assert not any("locked" in e for e in errors), errors
    trials = optuna.load_study(study_name="race", storage=storage_url).trials
    assert len(trials) == 160
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(160))

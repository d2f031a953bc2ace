"""`tuner list` and `tuner show` read a storage written by `tuner study`."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import optuna
import pytest

from tuner.cli import main
from tuner.storage import open_storage

STUDY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"

[fixed]
epochs = 2
fail_above = 8.0

[[stages]]
name = "coarse"
sampler = "random"
trials = 3
[stages.space]
x = { low = -10.0, high = 10.0 }
"""


def test_list_and_show(tmp_path: Path, storage_url: str,
                       capsys: pytest.CaptureFixture[str]) -> None:
    open_storage(storage_url)  # an empty one (list never creates one: test_bad_inputs_state)
    assert main(["list", "--storage", storage_url]) == 0
    assert "no studies in sqlite:///" in capsys.readouterr().out
    path = tmp_path / "ins.toml"
    path.write_text(STUDY)
    assert main(["-q", "study", str(path), "--storage", storage_url, "--no-tracking"]) == 0
    capsys.readouterr()
    study = optuna.load_study(study_name="ins/coarse", storage=storage_url)
    best = study.best_trial

    assert main(["list", "--storage", storage_url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["study", "complete", "pruned", "failed", "running", "best",
                              "final", "test"]
    row = out[1].split()
    assert row[0] == "ins/coarse" and row[1] == "3" and row[5] == f"{best.value:.4g}"

    assert main(["show", "ins", "--storage", storage_url]) == 0
    out = capsys.readouterr().out
    assert f"ins/coarse (maximize): {len(study.trials)} trials" in out
    assert "space: x [-10, 10]" in out
    assert "#  state" in out and "val_accuracy  epochs  seconds  pruned_at  reason" in out
    last = study.trials[-1]
    row = next(line.split() for line in out.splitlines() if line.startswith(f"{last.number}  "))
    assert row[4] == f"{last.user_attrs['metrics']['val_accuracy']:.4g}"  # #, state, value, x
    assert f"best: trial {best.number} value {best.value:.4g}: x={best.params['x']:.4g}" in out


def test_show_unknown_study_is_one_line(storage_url: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    open_storage(storage_url)  # an existing storage without that study
    assert main(["show", "nothing", "--storage", storage_url]) == 1
    err = capsys.readouterr().err
    assert err == ("error: No study 'nothing' in storage " + storage_url +
                   "; `tuner list` shows the studies there.\n")


def test_list_on_another_applications_database_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An MLflow store (Alembic-managed tables, MLflow's hex revision) is refused untouched."""
    db = tmp_path / "mlflow.db"
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('dc11669786a5')")
        conn.execute("CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY)")
    assert main(["list", "--storage", f"sqlite:///{db}"]) == 1
    assert capsys.readouterr().err == (
        f"error: Storage 'sqlite:///{db}' is not an Optuna study storage: its tables belong to "
        "another application (schema revision 'dc11669786a5', e.g. an MLflow store); expected "
        "a new database or one written by Optuna, e.g. sqlite:///tuner.db.\n")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert tables == {"alembic_version", "runs", "sqlite_autoindex_alembic_version_1",
                      "sqlite_autoindex_runs_1"}


def test_an_estimator_study_shows_only_what_it_has(tmp_path: Path, storage_url: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A regression study of a one-fit estimator: no empty val_accuracy column in `show`, and
    no "epochs trained N vs N without pruning" line where nothing could be pruned."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    rows = [",".join([*(f"x{i}" for i in range(X.shape[1])), "y"])]
    rows += [",".join(map(str, [*x, t])) for x, t in zip(X, y, strict=True)]
    (tmp_path / "diabetes.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "ridge.toml").write_text(
        'objective = "sklearn.linear_model:Ridge"\ndataset = "diabetes.csv"\n'
        'metric = "val_rmse"\ndirection = "minimize"\ncv = false\n\n[[stages]]\nname = "only"\n'
        'sampler = "random"\ntrials = 3\n[stages.space]\n'
        'alpha = { low = 0.01, high = 10.0, log = true }\n')
    assert main(["study", str(tmp_path / "ridge.toml"), "--storage", storage_url,
                 "--no-tracking"]) == 0
    summary = capsys.readouterr().out
    assert "stage only: 3 complete" in summary and "without pruning" not in summary
    assert main(["show", "ridge", "--storage", storage_url]) == 0
    out = capsys.readouterr().out
    assert "epochs  seconds  pruned_at  reason" in out and "val_accuracy" not in out

    (tmp_path / "ins.toml").write_text(STUDY)  # two reports per trial: the line is there
    assert main(["study", str(tmp_path / "ins.toml"), "--storage", storage_url,
                 "--no-tracking"]) == 0
    assert "epochs trained" in capsys.readouterr().out

"""Data held in a notebook: tuner.train takes (X, y), (X_train, y_train, X_test, y_test), a
mapping, a tuner.Data and a DataFrame with its target column; bad containers are one TunerError
line; run_study and final take the data as data=, store its fingerprint with the study and
refuse, in one line before any trial, a resume given other data or none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine

import tuner

LOGREG = "sklearn.linear_model:LogisticRegression"


def test_arrays_and_a_mapping_train_like_a_file(tmp_path: Path) -> None:
    X, y = load_wine(return_X_y=True)
    pair = tuner.train(LOGREG, dataset=(X, y), overrides={"max_iter": 2000})
    np.savez(tmp_path / "wine.npz", X=X, y=y)
    file = tuner.train(LOGREG, dataset=str(tmp_path / "wine.npz"),
                       overrides={"max_iter": 2000})
    assert pair.dataset == "the data given"
    assert pair.metrics["val_accuracy"] == file.metrics["val_accuracy"] > 0.85  # same split
    given_test = tuner.train(LOGREG, dataset={"X_train": X[:150], "y_train": y[:150],
                                              "X_test": X[150:], "y_test": y[150:]},
                             overrides={"max_iter": 2000})
    assert given_test.metrics["val_accuracy"] > 0.8


def test_a_dataframe_with_its_target_column() -> None:
    frame = load_diabetes(as_frame=True).frame  # target is the last column
    first = frame[["target", *frame.columns[:-1]]]
    by_name = tuner.train("sklearn.linear_model:Ridge", dataset=first, target="target")
    last = tuner.train("sklearn.linear_model:Ridge", dataset=frame)  # default: the last
    assert by_name.metrics["val_r2"] == pytest.approx(last.metrics["val_r2"])
    assert by_name.metrics["val_r2"] > 0.3  # the target, not a feature, was predicted


@pytest.mark.parametrize(("dataset", "target", "error", "message"), [
    (42, None, tuner.DataError, "The dataset given is of type int; expected a name"),
    ((np.zeros((5, 2)), np.zeros(4)), None, tuner.DataError,
     "The data given: 5 rows of features but 4 targets."),
    ({"X": np.zeros((5, 2))}, None, tuner.DataError, "The dict given holds X; expected X and y"),
    ((np.zeros((5, 2)), np.zeros(5)), "y", tuner.ConfigError,
     "'target' names a column of a CSV file or DataFrame; the data given is a tuple."),
    (load_wine(as_frame=True).frame, "nope", tuner.DataError,
     "The DataFrame given has no column 'nope' (the target); its columns: alcohol,"),
])
def test_bad_containers_are_one_line(dataset: object, target: str | None,
                                     error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        tuner.train("sklearn.linear_model:Ridge", dataset=dataset, target=target)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_run_study_refuses_data_it_cannot_store(tmp_path: Path) -> None:
    X, y = load_wine(return_X_y=True)
    with pytest.raises(tuner.SpecError, match=r"got a tuple. Give the data itself as data="):
        tuner.run_study("lambda_search", dataset=(X, y),
                        storage=f"sqlite:///{tmp_path / 'tuner.db'}", tracking=False)
    assert not (tmp_path / "tuner.db").exists()


def test_train_takes_data_or_a_dataset_not_both() -> None:
    X, y = load_wine(return_X_y=True)
    by_data = tuner.train(LOGREG, data=(X, y), overrides={"max_iter": 2000})
    by_dataset = tuner.train(LOGREG, dataset=(X, y), overrides={"max_iter": 2000})
    assert by_data.metrics["val_accuracy"] == by_dataset.metrics["val_accuracy"]
    held = tuner.Data(X_train=X[:150], y_train=y[:150], X_test=X[150:], y_test=y[150:])
    assert tuner.train(LOGREG, data=held, overrides={"max_iter": 2000}).metrics[
        "val_accuracy"] > 0.8
    for kwargs in ({"data": (X, y), "dataset": "wine.csv"}, {}):
        with pytest.raises(tuner.ConfigError, match="either dataset= .* or data= "):
            tuner.train(LOGREG, **kwargs)


STUDY = """objective = "sklearn.linear_model:LogisticRegression"
dataset = "unused.csv"
target = "target"
metric = "val_accuracy"

[fixed]
max_iter = 2000

[[stages]]
name = "only"
sampler = "random"
trials = {trials}
[stages.space]
C = {{ low = 0.01, high = 1.0, log = true }}
"""


def trial_count(storage: str) -> int:
    import optuna

    return len(optuna.load_study(study_name="notebook/only", storage=storage).trials)


def test_run_study_on_data_in_memory_resumes_only_with_the_same_data(tmp_path: Path) -> None:
    frame = load_wine(as_frame=True).frame
    path = tmp_path / "notebook.toml"
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    settings = {"storage": storage, "tracking": False, "progress": False}
    path.write_text(STUDY.format(trials=2))
    frame.to_csv(tmp_path / "unused.csv", index=False)  # the file the study names
    result = tuner.run_study(path, data=frame, **settings)
    assert result.stages["only"].complete == 2
    path.write_text(STUDY.format(trials=3))
    tuner.run_study(path, data=frame.copy(), **settings)  # the same data, another object
    assert trial_count(storage) == 3
    other = frame.assign(alcohol=frame["alcohol"] + 1.0)
    path.write_text(STUDY.format(trials=4))
    with pytest.raises(tuner.SpecError, match=r"^Study 'notebook' ran on in-memory data "
                       r"sha256:[0-9a-f]{16}; this run gives in-memory data sha256:"):
        tuner.run_study(path, data=other, **settings)
    with pytest.raises(tuner.SpecError, match="ran on data given in memory .*; give the same "
                       r"data again: tuner.run_study\(..., data=...\)"):
        tuner.run_study(path, **settings)  # the study file's own dataset
    assert trial_count(storage) == 3  # nothing was run with the wrong data
    with pytest.raises(tuner.SpecError, match="ran on data given in memory"):
        tuner.final(path, **settings)
    final = tuner.final(path, data=frame, register=False, **settings)
    assert final.test_size == 36 and final.metrics["test_accuracy"] > 0.8


def test_data_in_memory_stays_in_this_process(tmp_path: Path) -> None:
    X, y = load_wine(return_X_y=True)
    path = tmp_path / "notebook.toml"
    path.write_text(STUDY.format(trials=2).replace('target = "target"\n', ""))
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    with pytest.raises(tuner.SpecError, match="^Data given in memory stays in this process"):
        tuner.run_study(path, data=(X, y), storage=storage, tracking=False, jobs=2)
    with pytest.raises(tuner.SpecError, match="^data= takes the data itself"):
        tuner.run_study(path, data="wine.csv", storage=storage, tracking=False)
    with pytest.raises(tuner.SpecError, match="either dataset= .* or data="):
        tuner.run_study(path, data=(X, y), dataset="digits", storage=storage, tracking=False)
    assert not (tmp_path / "tuner.db").exists()
    held = tuner.Data(X_train=X[:150], y_train=y[:150], X_test=X[150:], y_test=y[150:])
    result = tuner.run_study(path, data=held, storage=storage, tracking=False, final=True,
                             register=False, progress=False)
    assert result.final is not None and result.final.test_size == 28  # its own test part

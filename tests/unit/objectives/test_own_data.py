"""The user's own data and models: CSV / .npz / loader datasets, the task and its metrics, and
every bad input one line (exit 1) before any trial is written."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

import tuner
from objectives.data import load_dataset
from objectives.data.tables import infer_task
from objectives.errors import DataError
from tuner.cli import main


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def wine_csv(folder: Path) -> Path:
    data = load_wine()
    names = ("barolo", "grignolino", "barbera")
    return write_csv(folder / "wine.csv", [*data.feature_names, "cultivar"],
                     [[*x, names[y]] for x, y in zip(data.data, data.target, strict=True)])


def diabetes_csv(folder: Path) -> Path:
    data = load_diabetes()
    return write_csv(folder / "diabetes.csv", [*data.feature_names, "progression"],
                     [[*x, y] for x, y in zip(data.data, data.target, strict=True)])


def test_csv_classes_are_encoded_and_named(tmp_path: Path) -> None:
    ds = load_dataset("wine.csv", folder=wine_csv(tmp_path).parent, seed=3, normalize="none")
    assert ds.task == "classification" and ds.classes == 3
    assert ds.class_names == ("barbera", "barolo", "grignolino")
    assert ds.train.y.dtype == np.int64 and ds.train.X.dtype == np.float32
    assert len(ds.feature_names) == 13 and ds.feature_names[0] == "alcohol"
    train, monitor, test = ds.final_splits(10)
    assert len(test) == round(0.2 * 178) and len(train) + len(monitor) + len(test) == 178
    counts = np.bincount(test.y)  # stratified: every class in the carved test split
    assert counts.min() >= 5
    assert ds.train.X[:, 0].max() > 10  # alcohol as the file holds it (user models scale)
    scaled = load_dataset("wine.csv", folder=tmp_path, seed=3, normalize="feature")
    assert np.allclose(scaled.train.X.mean(axis=0), 0, atol=1e-5)  # for the built-in nets


def test_npz_with_its_own_test_split_and_a_loader(tmp_path: Path) -> None:
    data = load_breast_cancer()
    np.savez(tmp_path / "bc.npz", X_train=data.data[:400], y_train=data.target[:400],
             X_test=data.data[400:], y_test=data.target[400:])
    ds = load_dataset(str(tmp_path / "bc.npz"), val_size=100)
    assert ds.task == "classification" and ds.classes == 2
    assert len(ds.train) == 300 and len(ds.final_splits(1)[2]) == len(data.target) - 400
    (tmp_path / "loader.py").write_text(
        "from sklearn.datasets import load_diabetes\n"
        "def data():\n    d = load_diabetes()\n    return d.data, d.target\n")
    ds = load_dataset("loader:data", folder=tmp_path)
    assert ds.task == "regression" and ds.train.y.dtype == np.float64 and ds.classes == 0


@pytest.mark.parametrize(("values", "task"), [
    ([0, 1, 2], "classification"), (["a", "b"], "classification"),
    (["1", "2", "3"], "classification"), ([0.5, 1.0], "regression"),
    (["0.5", "2"], "regression"), ([True, False], "classification")])
def test_the_task_follows_the_target(values: list[object], task: str) -> None:
    assert infer_task(values) == task


def test_a_regression_and_a_classification_study_from_python(tmp_path: Path) -> None:
    diabetes_csv(tmp_path)
    (tmp_path / "reg.toml").write_text(
        'objective = "sklearn.linear_model:Lasso"\ndataset = "diabetes.csv"\n'
        'metric = "val_rmse"\n[[stages]]\nname = "only"\nsampler = "random"\ntrials = 4\n'
        '[stages.space]\nalpha = { low = 0.01, high = 10.0, log = true }\n')
    result = tuner.run_study(tmp_path / "reg.toml", storage=f"sqlite:///{tmp_path / 't.db'}",
                             tracking=False, progress=False, final=True)
    assert result.direction == "minimize" and result.final is not None
    assert set(result.final) == {"test_rmse", "test_mae", "test_r2"}
    wine_csv(tmp_path)
    (tmp_path / "cls.toml").write_text(
        'objective = "sklearn.linear_model:LogisticRegression"\ndataset = "wine.csv"\n'
        'metric = "val_f1"\n[fixed]\nmax_iter = 5000\n[[stages]]\nname = "only"\n'
        'sampler = "random"\ntrials = 3\n[stages.space]\nC = { low = 0.01, high = 10.0, '
        'log = true }\n')
    result = tuner.run_study(tmp_path / "cls.toml", storage=f"sqlite:///{tmp_path / 't.db'}",
                             tracking=False, progress=False, final=True)
    assert result.direction == "maximize" and result.best_value is not None
    assert result.final is not None and result.final["test_f1"] > 0.8
    assert set(result.final) == {"test_accuracy", "test_f1", "test_loss"}


HEAD = 'objective = "{objective}"\ndataset = "{dataset}"\nmetric = "{metric}"\n{extra}\n'
STAGE = ('[[stages]]\nname = "only"\nsampler = "random"\ntrials = 3\n[stages.space]\n'
         '{param} = {{ low = 0.01, high = 1.0, log = true }}\n')


def study(folder: Path, *, objective: str = "sklearn.linear_model:Ridge",
          dataset: str = "diabetes.csv", metric: str = "val_rmse", extra: str = "",
          param: str = "alpha") -> str:
    path = folder / "bad.toml"
    path.write_text(HEAD.format(objective=objective, dataset=dataset, metric=metric,
                                extra=extra) + STAGE.format(param=param))
    return str(path)


def bad_csv(folder: Path, rows: list[list[object]]) -> None:
    write_csv(folder / "diabetes.csv", ["age", "sex", "progression"], rows)


def half_objective(folder: Path) -> None:
    (folder / "half.py").write_text("class Half:\n    params = {}\n    def fit(self):\n"
                                    "        pass\nHALF = Half()\n")


CASES: list[tuple[str, Callable[[Path], str], str]] = [
    ("missing file", lambda t: study(t, dataset="nowhere.csv"),
     r"error: Dataset file nowhere\.csv does not exist"),
    ("missing target column", lambda t: diabetes_csv(t) and study(t, extra='target = "nope"'),
     r"error: .*diabetes\.csv has no column 'nope' \(the target\); its columns: age, sex"),
    ("non-numeric feature column", lambda t: bad_csv(t, [[1, "m", 3.5], [2, "f", 1.5]] * 20)
     or study(t), r"error: .*diabetes\.csv: column 'sex' is not numeric \(line 2: 'm'\)"),
    ("NaN in the features", lambda t: bad_csv(t, [[1, 2, 3.5], [2, "nan", 1.5]] * 20)
     or study(t), r"error: .*diabetes\.csv: the features hold NaN or infinite values"),
    ("inf in the target", lambda t: bad_csv(t, [[1, 2, 3.5], [2, 1, "inf"]] * 20)
     or study(t), r"error: .*diabetes\.csv: the target holds NaN or infinite values"),
    ("fewer rows than the splits", lambda t: bad_csv(t, [[1, 2, 3.5], [2, 1, 1.5]])
     or study(t), r"error: The 'test_size' must leave at least one sample on each side: .*"
                  r"has 2 samples to split, test_size=0\.2 gives 0"),
    ("regression metric on classes", lambda t: wine_csv(t) and study(t, dataset="wine.csv"),
     r"error: .*bad\.toml: metric: val_rmse is not a classification metric; .*gives: "
     r"val_accuracy, val_f1, val_loss, val_roc_auc"),
    ("classification metric on a regression target",
     lambda t: diabetes_csv(t) and study(t, metric="val_f1"),
     r"error: .*bad\.toml: metric: val_f1 is not a regression metric"),
    ("val_loss without predict_proba", lambda t: wine_csv(t) and study(
        t, objective="sklearn.svm:LinearSVC", dataset="wine.csv", metric="val_loss",
        param="C"), r"error: .*bad\.toml: metric: val_loss needs predict_proba, which "
                    r"sklearn\.svm:LinearSVC does not have"),
    ("val_roc_auc on three classes", lambda t: wine_csv(t) and study(
        t, objective="sklearn.linear_model:LogisticRegression", dataset="wine.csv",
        metric="val_roc_auc", param="C"),
     r"error: .*metric: val_roc_auc needs two classes; wine\.csv has 3"),
    ("an objective missing members", lambda t: half_objective(t) or study(
        t, objective="half:HALF", metric="val_accuracy"),
     r"error: .*bad\.toml: objective: 'half:HALF' is neither an estimator .* it lacks name "
     r"\(a str naming it\); normalize \(one of feature, channel, none\)\.$"),
    ("an unknown estimator param", lambda t: study(t, param="alphaa"),
     r"error: .*space\.alphaa: unknown param for objective 'sklearn\.linear_model:Ridge'; "
     r"valid keys: alpha, copy_X, fit_intercept"),
    ("a module that does not exist", lambda t: study(t, objective="nosuch_module_x:Model"),
     r"error: .*objective: cannot import module 'nosuch_module_x' \(ModuleNotFoundError"),
    ("target on a built-in dataset", lambda t: study(
        t, objective="softmax", dataset="digits", metric="val_accuracy",
        extra='target = "y"', param="lr"),
     r"error: 'target' applies to your own data files; digits is a built-in dataset"),
]


@pytest.mark.parametrize(("build", "line"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_own_data_is_one_line_before_any_trial(
    build: Callable[[Path], str], line: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    path = build(tmp_path)
    db = tmp_path / "tuner.db"
    code = main(["study", path, "--storage", f"sqlite:///{db}", "--no-tracking"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.match(line, err.strip()), err
    assert not db.exists()  # checked before the storage is even opened


def test_a_loader_that_raises_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def data():\n    raise OSError('disk gone')\n")
    with pytest.raises(DataError, match=r"^Dataset 'broken:data' raised OSError: disk gone$"):
        load_dataset("broken:data", folder=tmp_path)


def test_a_built_in_net_on_a_regression_target_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    diabetes_csv(tmp_path)
    assert main(["run", "softmax", "--dataset", "diabetes.csv"]) == 1
    assert capsys.readouterr().err == (
        "error: softmax trains classifiers; diabetes.csv has a regression target.\n")
    path = study(tmp_path, objective="softmax", metric="val_loss", param="lr")
    assert main(["study", path, "--no-tracking", "--storage",
                 f"sqlite:///{tmp_path / 't.db'}"]) == 1
    assert "softmax trains classifiers; diabetes.csv has a regression target" in \
        capsys.readouterr().err

"""Cross-validated trials (`cv` in a study, the default for small tables of the user's own):
folds over train+val only, one value per trial from the mean over folds, the pruner judging
after each fold, per-fold values and their spread stored and shown, resume, and the final on
all of train+val."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from own_studies import wine_csv

from objectives.data import load_dataset
from tuner.cli import main
from tuner.engine import cross_validation
from tuner.engine.cross_validation import chosen_cv
from tuner.errors import SpecError
from tuner.spec import load_spec
from tuner.spec.model import CrossValidation
from tuner.spec.record import from_record, to_record

# A function objective whose model is a scikit-learn LogisticRegression: deterministic, and
# useless (it predicts one class) when `bad` is set, so a threshold pruner stops it at once.
TRAIN = '''
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class Constant:
    def __init__(self, label):
        self.label = label

    def predict(self, X):
        return np.full(len(X), self.label)


def train(config, train, val, report):
    if config["bad"]:
        return Constant(int(np.bincount(train.y).argmin()))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=config["C"], max_iter=500))
    return model.fit(train.X, train.y)
'''

STUDY = '''objective = "train:train"
dataset = "wine.csv"
target = "y"
metric = "val_accuracy"
{extra}
[fixed]
bad = false

[[stages]]
name = "only"
sampler = "random"
pruner = {{ type = "threshold", lower = 0.5 }}
trials = {trials}
[stages.space]
C = {{ low = 0.01, high = 10.0, log = true }}
bad = {{ choices = [false, true] }}
'''


def write_study(t: Path, extra: str = "", trials: int = 6) -> str:
    wine_csv(t / "wine.csv")
    (t / "train.py").write_text(TRAIN)
    path = t / "cv.toml"
    path.write_text(STUDY.format(extra=extra, trials=trials))
    return str(path)


def spec_of(t: Path, extra: str) -> Any:
    return load_spec(write_study(t, extra))


def trials(storage_url: str, stage: str = "cv/only") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=stage, storage=storage_url).get_trials()


@pytest.mark.parametrize(("extra", "cv"), [
    ("cv = 3", CrossValidation(3)), ("cv = true", CrossValidation(5)),
    ("cv = false", CrossValidation(0)), ("cv = { folds = 4, shuffle = false }",
                                         CrossValidation(4, shuffle=False)),
    ("", None)])
def test_the_cv_key_and_its_record(tmp_path: Path, extra: str, cv: Any) -> None:
    spec = spec_of(tmp_path, extra)
    assert spec.cv == cv
    assert from_record(to_record(spec)).cv == cv  # stored with the study, read by workers


@pytest.mark.parametrize(("extra", "message"), [
    ("cv = 1", "cv: must be a fold count in [2, 100]"),
    ("cv = { folds = 101 }", "cv.folds: must be a fold count in [2, 100]"),
    ("cv = { k = 5 }", "cv.k: unknown key"),
    ("cv = 2.5", "cv: must be of type int or bool or dict"),
    ("cv = 5\nval_size = 0.2", "cv: cross-validation splits train+val into folds itself"),
])
def test_a_bad_cv_is_one_line(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        spec_of(tmp_path, extra)


def test_off_goes_with_val_size_and_an_older_record_keeps_its_split(tmp_path: Path) -> None:
    assert spec_of(tmp_path, "cv = 0\nval_size = 0.25").cv == CrossValidation(0)
    record = to_record(spec_of(tmp_path, ""))
    del record["cv"]  # stored before cv existed: it ran on its val split, and stays on it
    assert from_record(record).cv == CrossValidation(0)


def test_the_folds_cover_train_and_val_once_and_never_the_test_split(tmp_path: Path) -> None:
    data = load_dataset(str(wine_csv(tmp_path / "wine.csv")), target="y", normalize="feature")
    folds = data.fold_splits(5)
    pool = {tuple(row) for part in (data.train, data.val) for row in part.X.round(4)}
    _, _, test = data.final_splits(0)
    assert len(folds) == 5
    seen: list[tuple[float, ...]] = []
    for train, val in folds:
        assert len(train) + len(val) == len(pool)
        # each fold scaled with its own train part's statistics
        assert np.allclose(train.X.mean(axis=0), 0.0, atol=1e-5)
        assert abs(np.bincount(val.y, minlength=3) / len(val) - np.bincount(
            train.y, minlength=3) / len(train)).max() < 0.1  # stratified
        seen += [tuple(row) for row in (val.X * 0 + val.X).round(4)]
    raw = np.concatenate([data.raw_rows(len(data.train)), data._pool[0][data._val_idx]])
    assert len(seen) == len(raw)  # every train+val row is validated on exactly once
    test_rows = {tuple(r) for r in np.asarray(data._read_test()[0]).round(6)}
    assert not test_rows & {tuple(r) for r in raw.round(6)}


def test_small_own_tables_cross_validate_by_default(tmp_path: Path) -> None:
    data = load_dataset(str(wine_csv(tmp_path / "wine.csv")), target="y")
    assert chosen_cv(spec_of(tmp_path, ""), data) == CrossValidation(5)
    assert chosen_cv(spec_of(tmp_path, "cv = false"), data) is None
    assert chosen_cv(spec_of(tmp_path, "val_size = 0.25"), data) is None
    assert chosen_cv(spec_of(tmp_path, "cv = 3"), data) == CrossValidation(3)
    digits = load_dataset("digits")  # a built-in dataset keeps its fixed split
    assert chosen_cv(spec_of(tmp_path, ""), digits) is None
    big = np.random.default_rng(0).normal(size=(1300, 3))
    table = load_dataset((big, (big[:, 0] > 0).astype(int)))  # 1,040 rows of train+val
    assert chosen_cv(spec_of(tmp_path, ""), table) is None


def test_a_trial_is_the_mean_of_its_folds_and_a_bad_one_is_pruned_after_the_first(
    tmp_path: Path, storage_url: str, tracking_uri: str, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="tuner")
    path = write_study(tmp_path, trials=8)
    assert main(["study", path, "--storage", storage_url, "--tracking-uri", tracking_uri]) == 0
    done = trials(storage_url)
    good = [t for t in done if not t.params["bad"]]
    bad = [t for t in done if t.params["bad"]]
    assert good and bad
    data = load_dataset(str(tmp_path / "wine.csv"), target="y")
    folds = data.fold_splits(5)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    for t in good:
        values = t.user_attrs["fold_values"]["val_accuracy"]
        assert t.state == TrialState.COMPLETE and len(values) == 5
        assert t.value == pytest.approx(np.mean(values))
        assert t.user_attrs["metrics"]["val_accuracy_std"] == pytest.approx(np.std(values))
        assert t.user_attrs["steps"] == 5 and t.user_attrs["pruned_at"] is None
        # each fold's value is that of a model fitted on that fold (the same folds here)
        for (train, val), value in zip(folds, values, strict=True):
            model = make_pipeline(StandardScaler(), LogisticRegression(
                C=t.params["C"], max_iter=500)).fit(train.X, train.y)
            assert value == pytest.approx(float((model.predict(val.X) == val.y).mean()))
    for t in bad:  # its first fold's accuracy is under the threshold: no second fold trained
        assert t.state == TrialState.PRUNED and t.user_attrs["pruned_at"] == 1
        assert t.user_attrs["steps"] == 1 and list(t.intermediate_values) == [1]
    assert "pruned after fold 1" in caplog.text
    assert "every trial cross-validates on 5 folds of 142 train+val rows" in caplog.text
    capsys.readouterr()
    assert main(["show", "cv", "--storage", storage_url]) == 0
    assert "val_accuracy_std" in capsys.readouterr().out
    # MLflow: every fold's rows (with their fold), then the mean as the run's last values
    from mlflow import MlflowClient
    run = MlflowClient(tracking_uri).get_run(good[0].user_attrs["mlflow_run_id"])
    assert run.data.metrics["val_accuracy"] == pytest.approx(good[0].value)
    history = MlflowClient(tracking_uri).get_metric_history(run.info.run_id, "fold")
    assert sorted({m.value for m in history}) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_an_interrupted_cv_study_resumes_to_exactly_its_target(
    tmp_path: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the middle of a trial's third fold; the rerun ends the stage at exactly its
    trial count, and every complete trial (either run) is the mean of the same folds."""
    path = write_study(tmp_path, extra='cv = 4', trials=5)
    calls = {"n": 0}
    real = cross_validation.check_interrupted

    def ctrl_c_in_a_later_fold() -> None:
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        real()

    monkeypatch.setattr(cross_validation, "check_interrupted", ctrl_c_in_a_later_fold)
    argv = ["-q", "study", path, "--storage", storage_url, "--no-tracking"]
    assert main(argv) == 130
    monkeypatch.setattr(cross_validation, "check_interrupted", real)
    assert main(argv) == 0
    done = trials(storage_url)
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in done) == 5
    assert [t.user_attrs["reason"] for t in done if t.state == TrialState.FAIL] == \
        ["interrupted"]
    data = load_dataset(str(tmp_path / "wine.csv"), target="y")
    for t in done:
        if t.state == TrialState.COMPLETE:
            values = t.user_attrs["fold_values"]["val_accuracy"]
            assert len(values) == 4 and t.value == pytest.approx(np.mean(values))
    assert len(data.fold_splits(4)) == 4


def test_the_final_retrains_on_all_of_train_and_val(
    tmp_path: Path, storage_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_study(tmp_path, trials=3)
    assert main(["study", path, "--storage", storage_url, "--no-tracking", "--final"]) == 0
    final = optuna.load_study(study_name="cv/only", storage=storage_url).user_attrs["final"]
    assert final["train_size"] == 142 - 3  # train+val less the final's 2 % monitor split


def test_a_confirm_repeat_cross_validates_like_its_search_trial(tmp_path: Path,
                                                                storage_url: str) -> None:
    """[final] confirm on a cv study: every repeat is the mean over the same k folds as its
    search trial (the folds are not redrawn)."""
    path = write_study(tmp_path, extra="cv = 3\n[final]\nconfirm = { top_k = 2, repeats = 1 }",
                       trials=4)
    assert main(["-q", "study", path, "--storage", storage_url, "--no-tracking"]) == 0
    repeats = [t for t in trials(storage_url, "cv/confirm") if t.state == TrialState.COMPLETE]
    assert repeats
    searched = trials(storage_url)
    for t in repeats:
        values = t.user_attrs["fold_values"]["val_accuracy"]
        assert len(values) == 3 and t.value == pytest.approx(np.mean(values))
        twin = [s for s in searched if s.params == t.params]
        assert twin  # deterministic: fold by fold the same values
        assert values == pytest.approx(twin[0].user_attrs["fold_values"]["val_accuracy"])

"""Plots, trials CSV and `tuner report` on small in-memory and SQLite Optuna studies."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import optuna
import pytest

from tuner.cli import main
from tuner.errors import StorageError
from tuner.figures import charts, confusion, tables
from tuner.figures import study_plots as plots
from tuner.reporting import report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    """A file that starts like a PNG and that Pillow decodes whole."""
    from PIL import Image

    if not path.is_file() or path.read_bytes()[:8] != PNG_MAGIC:
        return False
    with Image.open(path) as image:
        image.load()
        return image.format == "PNG" and min(image.size) > 100


def _study(params: int = 2, trials: int = 6, storage: str | None = None,
           name: str | None = None) -> optuna.Study:
    """A quick study over x (and y) with one pruned and one failed trial."""
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    for number in range(trials):
        trial = study.ask()
        x = trial.suggest_float("x", -2, 2)
        y = trial.suggest_int("y", 0, 4) if params > 1 else 0
        for step in (1, 2):
            trial.report(x * step, step)
        if number == trials - 1:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        elif number == trials - 2:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, -(x**2) + y)
    return study


def test_learning_curves_and_lr_schedule_are_pngs(tmp_path: Path) -> None:
    history = [{"epoch": e + 0.5, "train_loss": 1 / (e + 1), "val_loss": 1.1 / (e + 1),
                "train_accuracy": 0.5, "val_accuracy": 0.4, "lr": 0.1 / (e + 1)}
               for e in range(5)]
    assert _is_png(charts.plot_learning_curves(history, tmp_path / "curves.png"))
    assert _is_png(charts.plot_lr_schedule(history, tmp_path / "sub" / "lr.png", "cosine"))


def test_confusion_matrix_counts_and_png(tmp_path: Path) -> None:
    counts = confusion.confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    png = confusion.plot_confusion_matrix(counts, tmp_path / "cm.png", ["a", "b", "c"])
    assert _is_png(png)


def test_trials_csv_has_one_row_per_trial_and_every_param(tmp_path: Path) -> None:
    study = _study()
    with tables.trials_csv(study, tmp_path / "trials.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    assert [row["state"] for row in rows[-2:]] == ["PRUNED", "FAIL"]
    assert {"number", "value", "seconds", "copied_from", "x", "y"} <= set(rows[0])
    assert float(rows[0]["x"]) == study.trials[0].params["x"]


def _mixed_study(params: int, objectives: int = 1, trials: int = 12
                 ) -> tuple[optuna.Study, optuna.Study]:
    """A study over a log float, then an int, then a categorical (the first `params` of them),
    with a pruned trial; its learning curves are also kept in a second study (the companion a
    multi-objective stage keeps them in)."""
    directions = ["maximize", "minimize", "minimize"][:objectives]
    study = optuna.create_study(directions=directions,
                                sampler=optuna.samplers.RandomSampler(seed=1))
    curves = optuna.create_study(direction="maximize")
    for number in range(trials):
        trial, companion = study.ask(), curves.ask()
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        layers = trial.suggest_int("layers", 1, 4) if params > 1 else 2
        adam = params > 2 and trial.suggest_categorical("optimizer", ["sgd", "adam"]) == "adam"
        score = 1 - abs(np.log10(lr) + 2) / 4 - 0.05 * layers + 0.1 * adam
        for step in (1, 2, 3):
            if objectives == 1:  # Optuna's multi-objective trials take no reports
                trial.report(score * step, step)
            companion.report(score * step, step)
        if number == trials - 1:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            curves.tell(companion, state=optuna.trial.TrialState.PRUNED)
            continue
        values = [score, layers + number / trials, lr][:objectives]
        study.tell(trial, values if objectives > 1 else values[0])
        curves.tell(companion, score)
    return study, curves


SINGLE = {"optimization_history.png", "intermediate_values.png", "slice.png",
          "parallel_coordinate.png"}
"""The plots of every single-objective study; 2+ params add importances and contour."""


@pytest.mark.parametrize("params", [1, 2, 3])
def test_study_plots_of_one_two_and_three_params_are_pngs(
        tmp_path: Path, params: int, caplog: pytest.LogCaptureFixture) -> None:
    written = plots.study_plots(_mixed_study(params)[0], tmp_path)
    expected = SINGLE | ({"param_importances.png", "contour.png"} if params > 1 else set())
    assert {p.name for p in written} == expected
    assert all(p.parent == tmp_path and _is_png(p) for p in written)
    assert "skipped" not in caplog.text


def test_study_plots_include_contour_only_with_two_params(tmp_path: Path) -> None:
    two = {p.name for p in plots.study_plots(_study(params=2), tmp_path / "two")}
    assert two == SINGLE | {"param_importances.png", "contour.png"}
    assert all(_is_png(tmp_path / "two" / name) for name in two)
    one = {p.name for p in plots.study_plots(_study(params=1), tmp_path / "one")}
    assert one == SINGLE


@pytest.mark.parametrize("objectives", [2, 3])
def test_study_plots_of_a_multi_objective_study_add_its_pareto_front(
        tmp_path: Path, objectives: int, caplog: pytest.LogCaptureFixture) -> None:
    """The Pareto front (one panel, or one per pair of objectives), the other plots of the
    first objective, and the curves from the companion study: without one, no curves."""
    study, curves = _mixed_study(3, objectives)
    written = plots.study_plots(study, tmp_path / "with", curves)
    assert {p.name for p in written} == SINGLE | {"param_importances.png", "contour.png",
                                                  "pareto_front.png"}
    assert all(_is_png(p) for p in written)
    alone = {p.name for p in plots.study_plots(study, tmp_path / "alone")}
    assert alone == {p.name for p in written} - {"intermediate_values.png"}
    assert "skipped" not in caplog.text


def test_study_plots_keep_optunas_plot_warnings_off_the_console(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A contour param with one distinct value (Optuna's own contour logged a warning about
    it): the plot is still written, nothing reaches the console the user is watching, and
    Optuna's verbosity is as it was."""
    study = optuna.create_study(direction="maximize")
    for x in (0.1, 0.5, 0.9):
        study.enqueue_trial({"x": x, "y": 2})
        study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("y", 0, 4),
                       n_trials=1)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.enable_propagation()
    try:
        with caplog.at_level("WARNING", logger="optuna"):
            caplog.clear()
            written = plots.study_plots(study, tmp_path)
    finally:
        optuna.logging.disable_propagation()
    assert tmp_path / "contour.png" in written
    assert caplog.text == ""
    assert optuna.logging.get_verbosity() == verbosity
    assert "intermediate_values.png" not in {p.name for p in written}  # nothing was reported


def test_a_plot_that_fails_is_skipped_with_a_warning_and_the_others_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object) -> None:
        raise ValueError("no room")

    monkeypatch.setattr(plots, "contour", broken)
    with caplog.at_level("WARNING"):
        written = {p.name for p in plots.study_plots(_study(params=2), tmp_path)}
    assert written == SINGLE | {"param_importances.png"}
    assert "skipped the contour plot: ValueError: no room" in caplog.text


def test_study_plots_of_a_study_without_complete_trials_is_empty(tmp_path: Path) -> None:
    assert plots.study_plots(optuna.create_study(), tmp_path) == []


def test_report_command_writes_every_stage(tmp_path: Path, storage_url: str) -> None:
    for stage in ("coarse", "fine"):
        _study(storage=storage_url, name=f"demo/{stage}")
    fine = optuna.load_study(study_name="demo/fine", storage=storage_url)
    fine.set_user_attr("final", {"test_accuracy": 0.9312, "config": {"x": 1.0}})
    _study(storage=storage_url, name="demo_other")
    out = tmp_path / "report"
    assert main(["report", "demo", "--out", str(out), "--storage", storage_url]) == 0
    page = (out / "README.md").read_text()
    assert "## demo/coarse" in page and "## demo/fine" in page and "demo_other" not in page
    assert "Direction: maximize. Trials: 4 complete, 1 pruned, 1 fail" in page
    assert "| test_accuracy | 0.9312 |" in page and "| config |" not in page
    assert "![contour](demo_fine/contour.png)" in page
    assert _is_png(out / "demo_coarse" / "optimization_history.png")
    assert (out / "demo_fine" / "trials.csv").is_file()


def test_report_of_unknown_study_is_one_line_error(
    storage_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _study(storage=storage_url, name="demo/coarse")
    with pytest.raises(StorageError, match="No study named 'nope' in the storage"):
        report.write_report(optuna.storages.get_storage(storage_url), "nope", Path("unused"))
    assert main(["report", "nope", "--storage", storage_url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: No study named 'nope'") and err.count("\n") == 1


def test_per_trial_charts_draw_both_series_and_survive_gaps(tmp_path: Path) -> None:
    from PIL import Image

    history = [{"train_loss": 1.0, "val_loss": float("nan"), "lr": 0.1},
               {"train_loss": 0.5, "val_loss": 0.7, "lr": 0.05}]
    with Image.open(charts.plot_learning_curves(history, tmp_path / "curves.png")) as image:
        colors = {rgb for _, rgb in image.convert("RGB").getcolors(maxcolors=1 << 16)}
        assert image.size == (600, 220)  # two panels: loss and accuracy
    assert {(0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)} <= colors  # train and val lines
    with Image.open(charts.plot_lr_schedule(history[:1], tmp_path / "lr.png")) as image:
        assert image.size == (300, 220)

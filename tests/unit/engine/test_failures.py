"""A trial failed by its objective keeps its cause: a WARNING with the traceback in the log, the
traceback as error.txt of its MLflow run, its last line as user attr "reason" and in `tuner show`,
and the stage that stops after 5 failures in a row says where the traceback is."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from tests.toy_objective import Toy
from tuner.cli import main
from tuner.engine.failure import MAX_REASON_CHARS, error_line
from tuner.reporting.inspect import REASON_CHARS

STUDY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
seed = 3

[fixed]
epochs = 2
fail_above = {fail_above}
diverge_above = 2.5

[[stages]]
name = "coarse"
sampler = "{sampler}"
trials = {trials}
[stages.space]
x = {{ choices = [0.0, 4.0, 7.0] }}
"""
"""Grid over x: 0 completes, 4 diverges (PRUNED), 7 fails (fail_above = 6). A failed trial does
not count towards `trials`, so the grid is visited whole (and then a point again)."""


def run_study(tmp_path: Path, storage_url: str, *tracking: str, fail_above: float = 6.0,
              sampler: str = "grid", trials: int = 3) -> int:
    path = tmp_path / "fails.toml"
    path.write_text(STUDY.format(fail_above=fail_above, sampler=sampler, trials=trials))
    return main(["-q", "study", str(path), "--storage", storage_url,
                 *(tracking or ("--no-tracking",))])


def trials_of(storage_url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="fails/coarse", storage=storage_url).get_trials()


def error_txt(tracking_uri: str, run_id: str, tmp_path: Path) -> str:
    client = MlflowClient(tracking_uri)
    return Path(client.download_artifacts(run_id, "error.txt", str(tmp_path))).read_text()


def raise_long(self: Toy, *args: Any) -> Any:
    raise ValueError("bad shape (3, 4)\n  expected (4, 3)\n" + "detail " * 200)


def test_error_line_is_the_tracebacks_last_line_on_one_line() -> None:
    assert error_line(RuntimeError("toy failure at x=7")) == "RuntimeError: toy failure at x=7"
    assert error_line(KeyError()) == "KeyError"
    line = error_line(ValueError("bad shape\n  expected (4, 3)\n" + "x" * 1000))
    assert line.startswith("ValueError: bad shape expected (4, 3) xxx") and line.endswith("...")
    assert len(line) == MAX_REASON_CHARS and "\n" not in line


def test_a_failed_trial_is_one_warning_with_its_traceback(
    tmp_path: Path, storage_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="tuner"):
        assert run_study(tmp_path, storage_url) == 0
    trials = trials_of(storage_url)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed and all(t.params["x"] == 7.0 for t in failed)
    assert any(t.state == TrialState.PRUNED for t in trials)  # diverged: no warning
    warnings = [r for r in caplog.records if r.name == "tuner" and r.levelno >= logging.WARNING]
    assert [r.getMessage().partition(":")[0] for r in warnings] == \
        [f"trial {t.number} FAIL" for t in failed]
    record = warnings[0]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(
        f"trial {failed[0].number} FAIL: RuntimeError: toy failure at x=7.000  [x=7]")
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    text = caplog.text
    assert "Traceback (most recent call last)" in text
    assert text.index("FAIL: RuntimeError") < text.index("Traceback")
    assert 'raise RuntimeError(f"toy failure at x=' in text  # the objective's own frame


def test_five_failures_in_a_row_name_the_last_error_and_its_traceback(
    tmp_path: Path, storage_url: str, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With tracking: the traceback is error.txt of the trial's MLflow run, its last line the
    trial's reason; the stage's error line names both."""
    assert run_study(tmp_path, storage_url, "--tracking-uri", tracking_uri, fail_above=-100.0,
                     sampler="random", trials=8) == 1
    trials = trials_of(storage_url)
    assert [t.state for t in trials] == [TrialState.FAIL] * 5
    last = trials[-1]
    run_id = last.user_attrs["mlflow_run_id"]
    reason = last.user_attrs["reason"]
    assert reason.startswith("RuntimeError: toy failure at x=")
    err = capsys.readouterr().err
    assert (f"error: Stage 'coarse': 5 trials in a row failed; last error: {reason}. Trial "
            f"{last.number}'s traceback: artifact error.txt of MLflow run {run_id} (and the log "
            "above). Fix the cause and run again.") in err
    text = error_txt(tracking_uri, run_id, tmp_path)
    assert text.startswith("Traceback (most recent call last)")
    assert text.strip().splitlines()[-1] == reason
    assert 'raise RuntimeError(f"toy failure at x=' in text
    run = MlflowClient(tracking_uri).get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["failure_reason"] == reason


def test_without_tracking_the_stage_error_points_to_the_log(
    tmp_path: Path, storage_url: str, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture
) -> None:
    assert run_study(tmp_path, storage_url, fail_above=-100.0, sampler="random", trials=8) == 1
    number = trials_of(storage_url)[-1].number
    assert f". Trial {number}'s traceback is in the log above. Fix the cause" in \
        capsys.readouterr().err
    assert f"trial {number} FAIL: RuntimeError: toy failure at x=" in caplog.text
    assert "Traceback (most recent call last)" in caplog.text


def test_a_long_error_is_one_trimmed_line_in_storage_and_in_show(
    tmp_path: Path, storage_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(Toy, "fit", raise_long)
    assert run_study(tmp_path, storage_url) == 1  # 5 failures in a row
    trials = trials_of(storage_url)
    reason = trials[0].user_attrs["reason"]
    assert reason.startswith("ValueError: bad shape (3, 4) expected (4, 3) detail detail")
    assert len(reason) == MAX_REASON_CHARS and "\n" not in reason
    capsys.readouterr()
    assert main(["show", "fails", "--storage", storage_url]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 3 + len(trials)  # title, space, header, one line per trial
    shown = reason[:REASON_CHARS - 3] + "..."
    for t, row in zip(trials, lines[3:], strict=True):
        assert row.startswith(f"{t.number}  FAIL") and row.endswith(f"  {shown}")


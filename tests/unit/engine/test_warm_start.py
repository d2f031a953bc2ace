"""The informed fine stage: a refine stage starts with copies of its source's complete trials
inside its box (never trained again, never counted toward its target, cost or answer); off
with warm_start = false, and when the two stages train with different fixed params."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from toy_studies import TWO_STAGES, run_cli, study_file

import tuner
from tuner.search.trials import is_copy, own_trials
from tuner.spec import load_spec
from tuner.spec.record import from_record, to_record


def fine_trials(storage_url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="toy/fine", storage=storage_url).get_trials()


def test_copies_are_not_trained_counted_or_picked(tmp_path: Path, storage_url: str) -> None:
    result = tuner.run_study(study_file(tmp_path), storage=storage_url, tracking=False,
                             progress=False)
    trials = fine_trials(storage_url)
    copies, own = [t for t in trials if is_copy(t)], own_trials(trials)
    assert copies and len(own) == 4  # the target counts the stage's own trials only
    fine = result.stages["fine"]
    assert fine.complete + fine.pruned + fine.failed == 4
    assert fine.epochs_trained == sum(t.user_attrs["epochs"] for t in own
                                      if t.state != TrialState.FAIL)
    assert fine.best_trial not in {t.number for t in copies}
    answer = result.answer
    assert answer is not None and not (answer.stage == "fine"
                                       and answer.trial in {t.number for t in copies})
    # a rerun neither copies again nor runs more trials
    assert run_cli(study_file(tmp_path), storage_url) == 0
    assert [t.number for t in fine_trials(storage_url)] == [t.number for t in trials]
    # list counts the stage's own trials; --trial refuses a copy, naming its original
    assert tuner.cli.main(["list", "--storage", storage_url]) == 0
    with pytest.raises(tuner.TunerError, match=r"is a copy of coarse:\d+; name that trial"):
        tuner.final(study_file(tmp_path), storage=storage_url, tracking=False,
                    trial=f"fine:{copies[0].number}")


def test_a_copy_off_the_fine_stage_grid_is_left_out(tmp_path: Path, storage_url: str) -> None:
    """The fine stage re-declares y on a coarser step: coarse values off its grid are not
    copied (they are no point of its space), the others are; nothing raises."""
    text = TWO_STAGES.replace("enqueue = 2 }\n", "enqueue = 2 }\n[stages.space]\n"
                              "y = { low = 0, high = 10, step = 5 }\n")
    assert run_cli(study_file(tmp_path, text), storage_url) == 0
    copies = [t for t in fine_trials(storage_url) if is_copy(t)]
    assert all(t.params["y"] in (0, 5, 10) for t in copies)


def test_warm_start_false_and_different_fixed_params_copy_nothing(tmp_path: Path,
                                                                  storage_url: str) -> None:
    off = TWO_STAGES.replace("enqueue = 2 }", "enqueue = 2, warm_start = false }")
    spec = load_spec(study_file(tmp_path, off))
    assert spec.stages[1].refine is not None and not spec.stages[1].refine.warm_start
    assert from_record(to_record(spec)).stages[1].refine == spec.stages[1].refine
    assert run_cli(study_file(tmp_path, off), storage_url) == 0
    trials = fine_trials(storage_url)
    assert not any(is_copy(t) for t in trials)
    coarse = optuna.load_study(study_name="toy/coarse", storage=storage_url).get_trials()
    best = sorted((t for t in coarse if t.state == TrialState.COMPLETE),
                  key=lambda t: -float(t.value or 0))[:2]
    assert [trials[0].params, trials[1].params] == [best[0].params, best[1].params]  # enqueued

    longer = TWO_STAGES.replace("enqueue = 2 }\n", "enqueue = 2 }\nset = { epochs = 5 }\n")
    other = tmp_path / "other"
    other.mkdir()
    assert run_cli(study_file(other, longer), f"sqlite:///{other / 'tuner.db'}") == 0
    assert not any(is_copy(t) for t in fine_trials(f"sqlite:///{other / 'tuner.db'}"))


def test_a_claimer_that_died_is_replaced(tmp_path: Path, storage_url: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The copying was claimed (NAME/fine#copies exists) but never done: the stage waits for
    the claimer, then makes the copies itself, once."""
    from optuna.study import StudyDirection

    from tuner.engine import warm
    from tuner.storage import open_storage

    monkeypatch.setattr(warm, "CLAIM_WAIT_SECONDS", 0.5)
    open_storage(storage_url).create_new_study([StudyDirection.MINIMIZE], "toy/fine#copies")
    tuner.run_study(study_file(tmp_path), storage=storage_url, tracking=False, progress=False)
    study = optuna.load_study(study_name="toy/fine", storage=storage_url)
    copies = [t for t in study.get_trials() if is_copy(t)]
    assert copies and study.user_attrs["warm_started"] == len(copies)
    assert len({t.user_attrs["copied_from"] for t in copies}) == len(copies)

"""The confirm stage in the engine: the pick rule's top candidates trained again on shared seeds,
raced, counted exactly, stored, resumed; the answer is the best mean, and the final retrains it."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import tuner

STUDY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
seed = 4

[fixed]
epochs = 2
noise = {noise}

[[stages]]
name = "coarse"
sampler = "random"
trials = 8
[stages.space]
x = {{ low = -5.0, high = 5.0 }}

[final]
monitor = 40
confirm = {{ top_k = 3, repeats = 2 }}
"""


def _run(tmp_path: Path, noise: float, **settings: object) -> tuner.StudyResult:
    path = tmp_path / "toy.toml"
    path.write_text(STUDY.format(noise=noise))
    return tuner.run_study(path, storage=f"sqlite:///{tmp_path / 'tuner.db'}", tracking=False,
                           progress=False, **settings)


def _confirm_trials(tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="toy/confirm",
                             storage=f"sqlite:///{tmp_path / 'tuner.db'}").trials


def test_the_top_candidates_are_trained_again_on_shared_seeds_and_the_best_mean_wins(
        tmp_path: Path) -> None:
    result = _run(tmp_path, noise=0.2, final=True)
    trials = _confirm_trials(tmp_path)
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    assert 3 <= len(finished) <= 6 and len(trials) == len(finished)  # at most top_k x repeats
    candidates = optuna.load_study(study_name="toy/confirm", storage=f"sqlite:///"
                                   f"{tmp_path / 'tuner.db'}").user_attrs["candidates"]
    assert len(candidates) == 3
    keys = {c["key"] for c in candidates}
    assert {t.user_attrs["candidate"] for t in finished} == keys  # each evaluated again
    for t in finished:  # repeat r trains with seed + r, the same r for every candidate
        assert t.user_attrs["metrics"]["training_seed"] == 4 + t.user_attrs["repeat"]
    pairs = [(t.user_attrs["candidate"], t.user_attrs["repeat"]) for t in finished]
    assert len(pairs) == len(set(pairs))

    answer = result.answer
    assert answer is not None and answer.rule == "pick max val_accuracy, confirmed"
    mine = [t.user_attrs["metrics"]["val_accuracy"] for t in finished
            if t.user_attrs["candidate"] == f"{answer.stage}:{answer.trial}"]
    coarse = optuna.load_study(study_name="toy/coarse",
                               storage=f"sqlite:///{tmp_path / 'tuner.db'}").trials
    first = next(t for t in coarse if t.number == answer.trial).value
    assert answer.evaluations == 1 + len(mine)
    assert answer.mean == pytest.approx((first + sum(mine)) / (1 + len(mine)))
    assert result.best_value == answer.mean and result.best_params == answer.params
    assert result.final is not None and result.final.trial == answer.trial
    assert result.final.config["x"] == answer.params["x"]
    assert result.stages["confirm"].complete == len(finished)

    again = _run(tmp_path, noise=0.2)  # resumed: nothing runs again, the same answer
    assert len(_confirm_trials(tmp_path)) == len(trials)
    assert again.answer == answer and again.stages["confirm"].ran_here == 0


def test_without_noise_one_round_decides_and_the_search_best_stays(tmp_path: Path) -> None:
    result = _run(tmp_path, noise=0.0)
    trials = _confirm_trials(tmp_path)
    assert len(trials) == 3  # every repeat said the same: one round, not the budget of 6
    coarse = optuna.load_study(study_name="toy/coarse",
                               storage=f"sqlite:///{tmp_path / 'tuner.db'}")
    assert result.answer is not None and result.answer.trial == coarse.best_trial.number
    assert result.answer.stderr == pytest.approx(0.0, abs=1e-12) and result.answer.evaluations == 2


def test_confirm_false_is_the_best_single_measurement_and_no_confirm_stage(
        tmp_path: Path) -> None:
    result = _run(tmp_path, noise=0.2, confirm=False)
    assert "confirm" not in result.stages
    assert result.answer is not None and result.answer.rule == "pick max val_accuracy"
    assert result.answer.mean is None and result.answer.evaluations == 1


@pytest.mark.parametrize(("table", "message"), [
    ("confirm = { top_k = 0 }", r"final\.confirm\.top_k: must be an int in \[1, 1000\]"),
    ("confirm = { repeats = 1.5 }", r"final\.confirm\.repeats: must be of type int"),
    ("confirm = { top = 3 }", r"final\.confirm\.top: unknown key"),
    ("confirm = 3", r"final\.confirm: must be true, false or a table"),
])
def test_bad_confirm_tables_are_one_line(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "toy.toml"
    path.write_text(STUDY.format(noise=0.0).replace("confirm = { top_k = 3, repeats = 2 }",
                                                     table))
    with pytest.raises(tuner.SpecError, match=message):
        tuner.load_study_spec(path)


def test_a_stage_may_not_take_the_confirm_stages_name(tmp_path: Path) -> None:
    path = tmp_path / "toy.toml"
    path.write_text(STUDY.format(noise=0.0).replace('name = "coarse"', 'name = "confirm"'))
    with pytest.raises(tuner.SpecError, match="other than 'confirm'"):
        tuner.load_study_spec(path)


def test_a_search_grown_past_the_candidates_is_confirmed_again(tmp_path: Path) -> None:
    """The study ran (8 search trials, 3 candidates raced), then --trials 30 ran 22 more: the
    stage chooses its candidates again from all 30 and reopens the race; repeats of candidates
    still chosen count on, and the answer is one of the new candidates, confirmed."""
    first = _run(tmp_path, noise=0.2)
    db = f"sqlite:///{tmp_path / 'tuner.db'}"
    before = {c["key"] for c in optuna.load_study(study_name="toy/confirm",
                                                  storage=db).user_attrs["candidates"]}
    again = _run(tmp_path, noise=0.2, trials=30)
    confirm = optuna.load_study(study_name="toy/confirm", storage=db)
    now = {c["key"] for c in confirm.user_attrs["candidates"]}
    assert now != before  # the seeded search found better values among its 22 new trials
    repeated = {t.user_attrs["candidate"] for t in confirm.trials
                if t.state == TrialState.COMPLETE}
    assert now <= repeated  # every new candidate raced
    assert again.answer is not None and again.answer.rule.endswith("confirmed")
    assert f"{again.answer.stage}:{again.answer.trial}" in now
    assert first.answer is not None and again.stages["confirm"].ran_here >= 1
    assert _run(tmp_path, noise=0.2, trials=30).stages["confirm"].ran_here == 0  # decided

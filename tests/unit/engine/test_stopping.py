"""Stopping rules: a stage ends when its best stops improving (patience, min_delta) or reaches
a target; the reason is stored, printed and shown; a rerun keeps it stopped, a larger target
reopens it; two workers stop together; bad rules are one line."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial
from toy_studies import run_cli

import tuner
from tuner.errors import SpecError
from tuner.search.stopping import stop_reason
from tuner.search.trials import own_trials
from tuner.spec import load_spec
from tuner.spec.model import StopRule
from tuner.spec.record import from_record, to_record

ONE_STAGE = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
metric = "val_accuracy"
seed = 3

[fixed]
epochs = 2

[[stages]]
name = "coarse"
sampler = "random"
trials = 40
{stop}
[stages.space]
x = {{ low = -10.0, high = 10.0 }}
y = {{ low = 0, high = 10 }}
"""


def trial(value: float | None, number: int, state: TrialState = TrialState.COMPLETE,
          copied: bool = False) -> optuna.trial.FrozenTrial:
    made = create_trial(state=state, value=value,
                        user_attrs={"copied_from": "coarse:0"} if copied else {})
    made.number = number
    return made


def test_patience_target_and_since() -> None:
    values = [0.5, 0.6, 0.6005, 0.59, 0.58]
    trials = [trial(v, i) for i, v in enumerate(values)]
    rule = StopRule(patience=3, min_delta=0.001)
    assert stop_reason(rule, trials, maximize=True) == (
        "no improvement of the best by more than 0.001 in 3 trials (best 0.6005)")
    assert stop_reason(StopRule(patience=4, min_delta=0.001), trials, maximize=True) is None
    assert stop_reason(rule, trials, maximize=True, since=3) is None  # reopened after 3
    assert stop_reason(StopRule(target=0.6), trials, maximize=True) == (
        "reached the target 0.6 (best 0.6)")
    assert stop_reason(StopRule(target=0.55), trials, maximize=False) == (
        "reached the target 0.55 (best 0.5)")
    pruned = [trial(None, i, TrialState.PRUNED) for i in range(2)]
    assert stop_reason(StopRule(patience=2), pruned, maximize=True) == (
        "no complete trial in 2 trials")
    # a fine stage's copies set the best its own trials must beat; a target judges its own
    warm = [trial(0.9, 0, copied=True), *[trial(0.8, i) for i in range(1, 3)]]
    assert stop_reason(StopRule(patience=2), warm, maximize=True) == (
        "no improvement of the best by more than 0 in 2 trials (best 0.9)")
    assert stop_reason(StopRule(target=0.85), warm, maximize=True) is None


def write(t: Path, stop: str) -> str:
    path = t / "stop.toml"
    path.write_text(ONE_STAGE.format(stop=stop))
    return str(path)


def finished(storage_url: str) -> int:
    study = optuna.load_study(study_name="stop/coarse", storage=storage_url)
    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               for t in own_trials(study.get_trials()))


def test_a_stopped_stage_stays_stopped_and_a_larger_target_reopens_it(
    tmp_path: Path, storage_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "stop = { patience = 4, min_delta = 0.01 }")
    assert run_cli(path, storage_url) == 0
    out = capsys.readouterr().out
    ran = finished(storage_url)
    assert 4 < ran < 40
    assert re.search(r"stopped early: no improvement of the best by more than 0\.01 in 4 "
                     r"trials \(best [\d.]+\)", out)
    assert run_cli(path, storage_url) == 0  # the rerun: stopped, not run again
    assert finished(storage_url) == ran
    assert tuner.cli.main(["show", "stop", "--storage", storage_url]) == 0
    assert "  stopped early: no improvement" in capsys.readouterr().out
    assert tuner.cli.main(["list", "--storage", storage_url]) == 0
    assert "stop/coarse stopped early: no improvement of the best" in capsys.readouterr().out
    assert run_cli(path, storage_url, "--trials", "30") == 0  # not above the 40 it stopped at
    assert finished(storage_url) == ran
    assert run_cli(path, storage_url, "--trials", "60") == 0  # a larger target reopens it
    again = finished(storage_url)
    assert ran + 4 <= again < 60  # its rules judge the trials after the reopening: 4 at least


@pytest.mark.parametrize(("stop", "reason"), [
    ("stop = { patience = 3 }", "no improvement"),
    ("stop = { target = 0.2 }", "reached the target 0.2"),
])
def test_two_workers_stop_together_with_no_trial_lost(tmp_path: Path, stop: str,
                                                      reason: str) -> None:
    """--jobs 2: the first worker to find the rule met stores why, both end the stage; every
    trial ended (none RUNNING, none lost) and the result counts them all."""
    storage = f"sqlite:///{tmp_path / 'jobs.db'}"
    result = tuner.run_study(write(tmp_path, stop), storage=storage, tracking=False,
                             progress=False, jobs=2)
    coarse = result.stages["coarse"]
    assert coarse.stopped is not None and coarse.stopped.startswith(reason)
    study = optuna.load_study(study_name="stop/coarse", storage=storage)
    assert all(t.state != TrialState.RUNNING for t in study.trials)
    assert coarse.complete + coarse.pruned == finished(storage) < 40
    if "target" in stop:
        assert coarse.best_value is not None and coarse.best_value >= 0.2


def test_a_target_stops_the_stage_once_reached(tmp_path: Path, storage_url: str) -> None:
    result = tuner.run_study(write(tmp_path, "stop = { target = 0.2 }"), storage=storage_url,
                             tracking=False, progress=False)
    coarse = result.stages["coarse"]
    assert coarse.stopped is not None and coarse.stopped.startswith("reached the target 0.2")
    assert coarse.best_value is not None and coarse.best_value >= 0.2
    study = optuna.load_study(study_name="stop/coarse", storage=storage_url)
    last = max(t.number for t in study.trials if t.state == TrialState.COMPLETE)
    assert study.trials[last].value == coarse.best_value  # it stopped at the first to reach it


@pytest.mark.parametrize(("stop", "message"), [
    ("stop = { patience = -1 }", "stages.coarse.stop.patience: must be an int in [1, 100000]"),
    ("stop = { min_delta = 0.1 }", "stages.coarse.stop: needs patience"),
    ("stop = { patience = 3, min_delta = -0.5 }", "stages.coarse.stop.min_delta: must be >= 0"),
    ("stop = { target = \"high\" }", "stages.coarse.stop.target: must be of type int or float"),
    ("stop = { when = 3 }", "stages.coarse.stop.when: unknown key"),
])
def test_a_bad_rule_is_one_line(tmp_path: Path, stop: str, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(write(tmp_path, stop))


def test_rules_are_stored_with_the_study_and_refused_for_several_objectives(
    tmp_path: Path
) -> None:
    spec = load_spec(write(tmp_path, "stop = { patience = 5, target = 0.9 }"))
    assert spec.stages[0].stop == StopRule(patience=5, min_delta=0.0, target=0.9)
    assert from_record(to_record(spec)).stages[0].stop == spec.stages[0].stop
    multi = ONE_STAGE.format(stop="stop = { patience = 5 }").replace(
        'metric = "val_accuracy"', 'metrics = ["val_accuracy", "seconds"]')
    (tmp_path / "multi.toml").write_text(multi)
    with pytest.raises(SpecError, match="stages.coarse.stop: stopping rules judge one metric"):
        load_spec(tmp_path / "multi.toml")


BUDGET = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
metric = "val_accuracy"
budget = "{budget}"

[fixed]
epochs = 2
sleep = 0.1

[[stages]]
name = "coarse"
sampler = "random"
trials = 1000
[stages.space]
x = {{ low = -10.0, high = 10.0 }}

[[stages]]
name = "fine"
sampler = "tpe"
trials = 1000
refine = {{ from = "coarse", params = ["x"], top_k = 3 }}
"""


def test_a_budget_is_spread_over_the_stages_and_ends_them(tmp_path: Path,
                                                          storage_url: str) -> None:
    """3 s for two stages of 1,000 trials of 0.2 s at least each: each stage gets its share
    (1.5 s, then what is left) and ends on time with far fewer trials than its target, for
    this run only: a rerun with a budget continues both."""
    (tmp_path / "budget.toml").write_text(BUDGET.format(budget="3s"))
    spec = load_spec(tmp_path / "budget.toml")
    assert spec.budget == 3.0 and from_record(to_record(spec)).budget == 3.0
    result = tuner.run_study(spec, storage=storage_url, tracking=False, progress=False)
    for name in ("coarse", "fine"):
        stage = result.stages[name]
        assert 1 <= stage.complete + stage.pruned < 50
        study = optuna.load_study(study_name=f"budget/{name}", storage=storage_url)
        assert "timed_out" not in study.user_attrs  # a budget's end is this run's only
    again = tuner.run_study(spec, storage=storage_url, tracking=False, progress=False)
    assert again.stages["coarse"].ran_here >= 1
    assert again.stages["coarse"].complete + again.stages["coarse"].pruned > \
        result.stages["coarse"].complete + result.stages["coarse"].pruned


def test_a_confirm_stage_waits_for_a_search_the_budget_ended(tmp_path: Path,
                                                              storage_url: str) -> None:
    """The budget ends both stages far from their targets: the confirm stage does not choose
    its candidates from that partial search (nothing of it runs, the answer is the best single
    measurement so far); it runs once the search stages are done."""
    (tmp_path / "budget.toml").write_text(BUDGET.format(budget="2s") + """
[final]
confirm = { top_k = 2, repeats = 1 }
""")
    spec = load_spec(tmp_path / "budget.toml")
    result = tuner.run_study(spec, storage=storage_url, tracking=False, progress=False)
    assert "confirm" not in result.stages
    assert result.answer is not None and not result.answer.rule.endswith("confirmed")
    assert not optuna.load_study(study_name="budget/confirm", storage=storage_url).trials
    done = replace(spec, budget=None, stages=tuple(replace(s, trials=result.stages[s.name]
                                                           .complete) for s in spec.stages))
    again = tuner.run_study(done, storage=storage_url, tracking=False, progress=False)
    assert again.stages["confirm"].complete == 2  # the search is done: now it confirms
    assert again.answer is not None and again.answer.rule.endswith("confirmed")


def test_a_budget_ends_the_stages_of_two_workers(tmp_path: Path) -> None:
    """--jobs 2 with a 10 s budget (each worker counts it from its own start): every stage ends
    within its share, with nothing left running and far fewer trials than its target (two
    workers of 0.2 s trials can finish at most 50 in a 5 s share)."""
    (tmp_path / "budget.toml").write_text(BUDGET.format(budget="10s"))
    storage = f"sqlite:///{tmp_path / 'jobs.db'}"
    result = tuner.run_study(str(tmp_path / "budget.toml"), storage=storage, tracking=False,
                             progress=False, jobs=2)
    for name in ("coarse", "fine"):
        stage = result.stages[name]
        assert 1 <= stage.complete + stage.pruned <= 60
        study = optuna.load_study(study_name=f"budget/{name}", storage=storage)
        assert all(t.state != TrialState.RUNNING for t in study.trials)


@pytest.mark.parametrize(("budget", "message"), [
    ("soon", "budget must be a duration such as \"2h\", \"90m\", \"45s\" or \"1h30m\", or a "
     "number of seconds. Got 'soon' instead."),
    ("0s", "budget must be more than 0 seconds. Got '0s' instead."),
])
def test_a_bad_budget_is_one_line(tmp_path: Path, budget: str, message: str) -> None:
    (tmp_path / "budget.toml").write_text(BUDGET.format(budget=budget))
    with pytest.raises(SpecError, match=re.escape(f"budget.toml: {message}")):
        load_spec(tmp_path / "budget.toml")
    with pytest.raises(SpecError, match=re.escape(f"--{message}")):
        load_spec(tmp_path / "budget.toml", budget=budget)


def test_durations() -> None:
    from tuner.spec.budget import duration_text, parse_duration

    assert [parse_duration(v, "x") for v in ("2h", "90m", "45s", "1h30m", 12, 0.5)] == \
        [7200.0, 5400.0, 45.0, 5400.0, 12.0, 0.5]
    assert [duration_text(s) for s in (7200.0, 5400.0, 45.0, 0.5)] == ["2h", "1h30m", "45s",
                                                                      "0.5s"]

"""Multi-objective studies: accuracy against training seconds (or epochs), Pareto fronts in
`tuner show` / `tuner list` / MLflow / reports, pruning through the stage's companion study,
refine from the front, the final's pick rule, and bad inputs as one line at load time."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

import tuner
from tuner.cli import main

STUDY = """
objective = "softmax"
dataset = "digits"
metrics = ["val_accuracy", "seconds"]
seed = 1

[fixed]
optimizer = "sgd"
schedule = "constant"
epochs = 8
lambda = 0.0

[[stages]]
name = "coarse"
sampler = "random"
pruner = {pruner}
trials = 14
[stages.space]
lr = {{ low = 1e-5, high = 0.5, log = true }}
batch_size = {{ choices = [10, 50, 400] }}

[final]
monitor = 100
"""

MEDIAN = '{ type = "median", n_startup_trials = 3, n_warmup_steps = 1 }'


def write(tmp_path: Path, text: str, name: str = "mo.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def stage(storage: str, name: str = "mo/coarse") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


def dominated(a: tuple[float, ...], b: tuple[float, ...], signs: tuple[int, ...]) -> bool:
    """True when b dominates a (signs: +1 maximize, -1 minimize)."""
    better_or_equal = all(s * y >= s * x for x, y, s in zip(a, b, signs, strict=True))
    return better_or_equal and any(s * y > s * x for x, y, s in zip(a, b, signs, strict=True))


def test_two_objective_stage_prunes_midway_and_shows_its_front(
    tmp_path: Path, storage_url: str, tracking_uri: str, capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(tmp_path, STUDY.format(pruner=MEDIAN))
    result = tuner.run_study(path, storage=storage_url, tracking_uri=tracking_uri,
                             progress=False)
    study = stage(storage_url)
    trials = study.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    # pruned between the first and the last of the 8 reporting steps, by the stage's pruner
    assert [t for t in pruned if 1 <= t.user_attrs["pruned_at"] < 8], \
        [(t.number, t.user_attrs.get("pruned_at")) for t in trials]
    assert all(t.user_attrs["reason"] is None for t in pruned)  # pruned, not diverged
    # the pruner judged the curves kept in the companion study
    companion = stage(storage_url, "mo/coarse#pruning")
    assert {t.user_attrs["trial"] for t in companion.trials} == {t.number for t in trials}
    assert all(len(t.intermediate_values) >= 1 for t in companion.trials)

    front = sorted(t.number for t in study.best_trials)
    assert front and not {t.number for t in pruned} & set(front)
    assert [f.trial for f in result.stages["coarse"].front] == front
    assert set(result.stages["coarse"].front[0].values) == {"val_accuracy", "seconds"}

    assert main(["show", "mo", "--storage", storage_url]) == 0
    shown = capsys.readouterr().out
    assert "mo/coarse (maximize val_accuracy, minimize seconds)" in shown
    assert f"pareto front: {len(front)} trials" in shown
    listed = re.findall(r"^    trial (\d+): val_accuracy", shown, flags=re.M)
    assert [int(n) for n in listed] == front
    assert main(["list", "--storage", storage_url]) == 0
    listing = capsys.readouterr().out
    assert f"front of {len(front)}" in listing and "#pruning" not in listing

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    parent = client.get_run(study.user_attrs["mlflow_parent_run_id"])
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "pareto_front.csv" in artifacts
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"plots/pareto_front.png", "plots/intermediate_values.png"} <= plots  # curves:
    # drawn from the pruning study (the stage study itself holds none)
    assert parent.data.metrics["pareto_front_size"] == len(front)
    for trial in trials:
        tags = client.get_run(trial.user_attrs["mlflow_run_id"]).data.tags
        assert tags["pareto_front"] == ("true" if trial.number in front else "false")


def test_without_a_pruner_the_front_is_every_non_dominated_trial(
    tmp_path: Path, storage_url: str,
) -> None:
    path = write(tmp_path, STUDY.format(pruner='"none"'))
    result = tuner.run_study(path, storage=storage_url, tracking=False, progress=False)
    study = stage(storage_url)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 14
    signs = (1, -1)
    by_hand = sorted(t.number for t in complete
                     if not any(dominated(tuple(t.values), tuple(o.values), signs)
                                for o in complete))
    assert [f.trial for f in result.stages["coarse"].front] == by_hand
    assert sorted(t.number for t in study.best_trials) == by_hand
    for f in result.stages["coarse"].front:  # values as told: accuracy, the trial's seconds
        trial = study.trials[f.trial]
        assert f.values["val_accuracy"] == trial.user_attrs["metrics"]["val_accuracy"]
        assert f.values["seconds"] == pytest.approx(trial.user_attrs["seconds"], abs=0.05)


TOY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
metrics = ["val_accuracy", "epochs"]
seed = 3
{top}
[fixed]
epochs = 4

[[stages]]
name = "coarse"
sampler = "random"
trials = 10
{stage}
[stages.space]
x = {{ low = -10.0, high = 10.0 }}
epochs = {{ low = 1, high = 6 }}

[[stages]]
name = "fine"
trials = 4
refine = {{ from = "coarse", params = ["x"], enqueue = 2{by} }}

[final]
monitor = 50
{final}
"""


def toy(tmp_path: Path, *, top: str = "", stage: str = "", by: str = "", final: str = "") -> str:
    return write(tmp_path, TOY.format(top=top, stage=stage, by=by, final=final), "toy.toml")


def test_refine_from_the_front_or_by_a_metric(tmp_path: Path, storage_url: str) -> None:
    tuner.run_study(toy(tmp_path), storage=storage_url, tracking=False, progress=False)
    coarse, fine = stage(storage_url, "toy/coarse"), stage(storage_url, "toy/fine")
    front = sorted(coarse.best_trials, key=lambda t: -t.values[0])
    assert fine.user_attrs["refined_from"] == [t.params for t in front]
    queued = front[:2]  # enqueued: the front's best on the first metric, first
    assert [t.params["x"] for t in fine.trials[:len(queued)]] == [t.params["x"] for t in queued]

    other = "sqlite:///" + str(tmp_path / "by.db")
    tuner.run_study(toy(tmp_path, by=', by = "epochs", top_k = 2'), storage=other,
                    tracking=False, progress=False)
    coarse = stage(other, "toy/coarse")
    fewest = sorted((t for t in coarse.trials if t.state == TrialState.COMPLETE),
                    key=lambda t: t.values[1])[:2]
    assert stage(other, "toy/fine").user_attrs["refined_from"] == [t.params for t in fewest]


def test_final_pick_rule_and_trial_flag(tmp_path: Path, storage_url: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = toy(tmp_path, final='pick = { max = "val_accuracy", where = "epochs <= 3" }')
    result = tuner.run_study(path, storage=storage_url, tracking=False, progress=False,
                             final=True)
    trials = [t for name in ("toy/coarse", "toy/fine") for t in stage(storage_url, name).trials
              if t.state == TrialState.COMPLETE]
    allowed = [t for t in trials if t.values[1] <= 3]
    best = max(allowed, key=lambda t: t.values[0])
    assert result.final is not None
    assert result.final.search_values == {"val_accuracy": best.values[0],
                                          "epochs": best.values[1]}
    assert result.final.rule == "pick max val_accuracy where epochs <= 3"
    assert main(["final", path, "--storage", storage_url, "--no-tracking", "--trial",
                 "coarse:0"]) == 0
    out = capsys.readouterr().out
    assert "trial 0 chosen by --trial coarse:0" in out
    # a rule no trial meets: one line, exit 1
    strict = toy(tmp_path, final='pick = { max = "val_accuracy", where = "epochs < 0" }')
    assert main(["final", strict, "--storage", storage_url, "--no-tracking"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "meets the final's pick rule (max val_accuracy where " \
        "epochs < 0)" in err


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"top": 'directions = ["maximize"]'},
     r"toy\.toml: directions: has 1 entries for 2 metrics \['val_accuracy', 'epochs'\]; "
     r"expected one direction per metric\.$"),
    ({"top": 'directions = ["maximize", "up"]'},
     r"toy\.toml: directions\[1\]: must be 'maximize' or 'minimize'\. Got 'up' instead\.$"),
    ({"top": 'metric = "val_loss"'},
     r"toy\.toml: metric: a study sets either `metric`/`direction` or `metrics`/`directions`"),
    ({"stage": 'prune_on = "val_loss"'},
     r"toy\.toml: stages\.coarse\.prune_on: 'val_loss' is not one of the study's metrics; "
     r"expected one of: val_accuracy, epochs\.$"),
    ({"by": ', by = "val_loss"'},
     r"toy\.toml: stages\.fine\.refine\.by: 'val_loss' is not one of the study's metrics"),
    ({"final": 'pick = "val_acc"'},
     r"toy\.toml: final\.pick: must be one of the study's metrics \(val_accuracy, epochs\) "
     r"or seconds, epochs, params_count\. Got 'val_acc' instead\.$"),
    ({"final": 'pick = { max = "val_accuracy", where = "secs <= 10" }'},
     r"toy\.toml: final\.pick\.where: must be one of the study's metrics .*Got 'secs' "
     r"instead\.$"),
    ({"final": 'pick = { max = "val_accuracy", where = "seconds about 10" }'},
     r"toy\.toml: final\.pick\.where: 'seconds about 10' is not a condition METRIC OP NUMBER"),
    ({"final": 'pick = { max = "val_accuracy", min = "seconds" }'},
     r"toy\.toml: final\.pick: needs exactly one of `max = METRIC` or `min = METRIC`\.$"),
])
def test_bad_multi_objective_inputs_are_one_line_before_any_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kwargs: dict[str, str], expected: str,
) -> None:
    db = tmp_path / "t.db"
    assert main(["study", toy(tmp_path, **kwargs), "--storage", f"sqlite:///{db}",
                 "--no-tracking"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(expected, err.strip()), err
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM trials").fetchone()[0] == 0


def test_unknown_metric_in_metrics_is_one_line(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, STUDY.format(pruner='"none"').replace(
        '"seconds"]', '"size"]'))
    assert main(["study", path, "--no-tracking"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mo.toml: metrics[1]: must be one of: " in err
    assert "Got 'size' instead." in err


def test_builtin_pareto_study_is_two_objective_with_a_pick_rule() -> None:
    spec = tuner.load_study_spec("sgd_batch_size_pareto")
    assert spec.objectives == (("val_accuracy", "maximize"), ("seconds", "minimize"))
    (search,) = spec.stages
    assert spec.prune_on(search) == "val_accuracy" and search.pruner == "percentile"
    assert {p.name for p in search.space} == {"batch_size", "lr"}
    assert str(spec.final.pick) == "max val_accuracy where seconds <= 5"


@pytest.mark.slow
def test_sgd_batch_size_pareto_on_real_mnist(shared_data: Path, storage_url: str,
                                             tracking_uri: str) -> None:
    result = tuner.run_study("sgd_batch_size_pareto", data_dir=str(shared_data),
                             storage=storage_url, tracking_uri=tracking_uri, progress=False,
                             final=True)
    search = result.stages["search"]
    assert search.complete + search.pruned == 40 and search.pruned > 0
    assert search.epochs_trained < search.epochs_without_pruning
    assert search.front and max(f.values["val_accuracy"] for f in search.front) > 0.9
    final = result.final
    assert final is not None and final.rule == "pick max val_accuracy where seconds <= 5"
    assert final.search_values["seconds"] <= 5 and final["test_accuracy"] > 0.9
    assert final.trial in {f.trial for f in search.front}  # the pick is on the front here


def test_params_count_is_reported_or_counted_on_the_model(tmp_path: Path,
                                                          storage_url: str) -> None:
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from objectives.numpy_nets.softmax import SoftmaxRegression
    from objectives.size import params_count

    assert params_count(SoftmaxRegression(np.zeros((64, 10)), np.zeros(10))) == 650
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    assert params_count(type("M", (), {"module": net})()) == 4 * 3 + 3 + 3 * 2 + 2
    fitted = LogisticRegression(max_iter=50).fit(np.eye(3), [0, 1, 2])
    assert params_count(fitted) == 3 * 3 + 3
    assert params_count(object()) is None

    text = STUDY.format(pruner='"none"').replace('"seconds"]', '"params_count"]').replace(
        "trials = 14", "trials = 3")
    result = tuner.run_study(write(tmp_path, text), storage=storage_url, tracking=False,
                             progress=False)
    study = stage(storage_url)
    assert [t.values[1] for t in study.trials] == [650.0] * 3  # digits: 64 pixels x 10 + 10
    assert all(f.values["params_count"] == 650.0 for f in result.stages["coarse"].front)


def test_two_workers_share_the_stage_and_its_pruning_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'jobs.db'}"
    path = toy(tmp_path, stage='pruner = { type = "median", n_startup_trials = 2 }')
    result = tuner.run_study(path, storage=storage, tracking=False, progress=False, jobs=2)
    assert result.workers == 2
    coarse = stage(storage, "toy/coarse")
    companion = {t.number: t for t in stage(storage, "toy/coarse#pruning").trials}
    finished = [t for t in coarse.trials if t.state.is_finished()]
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in finished) == 10
    for trial in finished:  # each trial's curve in its own companion trial, ended alike
        if trial.user_attrs.get("reason") == "surplus":  # told FAIL before it ran
            continue
        twin = companion[trial.user_attrs["pruning_trial"]]
        assert twin.user_attrs["trial"] == trial.number and twin.state == trial.state


def test_changing_the_objectives_of_a_stored_study_is_one_line(
    tmp_path: Path, storage_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    single = toy(tmp_path)
    text = Path(single).read_text().replace('metrics = ["val_accuracy", "epochs"]',
                                            'metric = "val_accuracy"')
    Path(single).write_text(text)
    assert main(["-q", "study", single, "--storage", storage_url, "--no-tracking",
                 "--trials", "2"]) == 0
    capsys.readouterr()
    multi = toy(tmp_path)  # the same file, now with metrics = ["val_accuracy", "epochs"]
    assert main(["-q", "study", multi, "--storage", storage_url, "--no-tracking"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Stage study 'toy/coarse' in the storage optimizes " \
        "maximize val_accuracy; the study file now declares maximize val_accuracy, minimize " \
        "epochs." in err
    assert len(stage(storage_url, "toy/coarse").trials) == 2  # nothing lost


def test_an_orphan_companion_ends_like_its_trial_or_is_left_to_its_worker() -> None:
    """Another worker's stage loop ends the companion of a trial that ended FAIL or PRUNED
    the same way (its own worker, telling it next, would agree); a COMPLETE trial's companion
    is left to its worker, which has the value. Ending every orphan FAIL raced with a worker
    that had just told its trial PRUNED (the twin ended FAIL)."""
    from tuner.engine.pruning import fail_orphan_companions

    stage_study = optuna.create_study(directions=["maximize", "minimize"])
    companion = optuna.create_study(direction="maximize")
    twins = {}
    for number, state in enumerate((TrialState.PRUNED, TrialState.COMPLETE, TrialState.FAIL)):
        trial = stage_study.ask()
        twin = companion.ask()
        twin.set_user_attr("trial", trial.number)
        twins[number] = twin.number
        if state == TrialState.COMPLETE:
            stage_study.tell(trial, [0.5, 1.0])
        else:
            stage_study.tell(trial, state=state)
    fail_orphan_companions(companion, stage_study.get_trials(deepcopy=False))
    states = {n: companion.trials[twins[n]].state for n in twins}
    assert states == {0: TrialState.PRUNED, 1: TrialState.RUNNING, 2: TrialState.FAIL}

"""Every shipped study file loads and dry-runs; the search-efficiency benchmark's helpers work on
a tiny case; the results script's table marks targets met."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from paths import ROOT

from tuner.cli import main
from tuner.spec import BUILTIN_STUDIES, load_spec

STUDIES = sorted(p.stem for p in BUILTIN_STUDIES.glob("*.toml"))


def _load(name: str) -> ModuleType:
    """A benchmarks/ script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load("bench_search")


@pytest.fixture(scope="module")
def results() -> ModuleType:
    return _load("results")


def test_the_course_report_studies_are_all_there() -> None:
    assert {"softmax_mnist", "sgd_batch_size", "mlp_mnist", "lenet_optimizers", "cifar_cnn_lr",
            "lambda_search"} <= set(STUDIES)


@pytest.mark.parametrize("name", STUDIES)
def test_study_dry_runs(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    spec = load_spec(name)
    assert main(["study", name, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"study {name}" in out
    for stage in spec.stages:
        assert f"stage {stage.name} ({name}/{stage.name})" in out


def test_a_dry_run_shows_the_seeds_the_run_uses(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """An estimator's random_state left at None is fitted with the study seed: the dry run says
    so instead of showing None, and names the training and sampler seeds."""
    from own_studies import study

    path = study(tmp_path, objective="sklearn.ensemble:RandomForestClassifier",
                 extra="seed = 7", space="max_depth = { low = 2, high = 8 }")
    assert main(["study", path, "--dry-run", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "random_state=3 (the study seed)" in out and "random_state=None" not in out
    assert "  seeds: training seed 3 in every trial and the final" in out
    assert "samplers seeded from 3" in out


def test_sgd_batch_size_has_one_stage_per_batch_size() -> None:
    spec = load_spec("sgd_batch_size")
    sizes = [dict((p.name, p.choices) for p in s.space)["batch_size"] for s in spec.stages]
    assert sizes == [(1000,), (100,), (10,), (1,)]
    assert all("lr" in {p.name for p in s.space} for s in spec.stages)


def test_softmax_mnist_searches_the_report_knobs() -> None:
    space = {p.name: p for p in load_spec("softmax_mnist").stages[0].space}
    assert {"batch_size", "epochs", "lr", "momentum", "schedule", "decay_rate", "exp_k",
            "stop_threshold"} <= set(space)
    assert space["stop_threshold"].when == (("optimizer", ("adam",)),)


def _trial(number: int, value: float | None, epochs: float, seconds: float,
           accuracy: float | None = None) -> tuple[optuna.Trial, dict[str, float]]:
    """A finished trial as bench_search sees it; `accuracy` (its last val_accuracy) defaults to
    its value, as in a study that maximizes val_accuracy."""
    state = TrialState.COMPLETE if value is not None else TrialState.PRUNED
    metrics = {"val_accuracy": accuracy if accuracy is not None else value or 0.0}
    trial = create_trial(state=state, value=value, params={"x": 0.5 + number / 100},
                         distributions={"x": FloatDistribution(0, 1)},
                         user_attrs={"epochs": epochs, "seconds": seconds, "metrics": metrics})
    return trial, {"epochs": number}


def test_trajectory_counts_pruned_epochs_and_keeps_the_best(bench: ModuleType) -> None:
    trials = [_trial(0, 0.80, 10, 1.0), _trial(1, None, 3, 0.5), _trial(2, 0.90, 10, 2.0),
              _trial(3, 0.85, 10, 1.0)]
    traj = bench.trajectory(trials, "maximize")
    assert traj == [(10, 1.0, 0.80), (13, 1.5, 0.80), (23, 3.5, 0.90), (33, 4.5, 0.90)]
    assert bench.cost_to_target(traj, 0.897) == (23, 3.5, True)
    assert bench.cost_to_target(traj, 0.95) == (33, 4.5, False)
    assert bench.best_config(trials, "maximize") == {"epochs": 2, "x": 0.52}


def test_trajectory_of_a_minimized_metric_follows_the_incumbent_accuracy(
    bench: ModuleType,
) -> None:
    """With val_loss minimized, the curve is the val accuracy of the lowest-loss trial so far."""
    trials = [_trial(0, 1.40, 8, 1.0, accuracy=0.50), _trial(1, 1.45, 8, 1.0, accuracy=0.52),
              _trial(2, 1.35, 8, 1.0, accuracy=0.51)]
    traj = bench.trajectory(trials, "minimize")
    assert [acc for _, _, acc in traj] == [0.50, 0.50, 0.51]
    assert bench.best_config(trials, "minimize") == {"epochs": 2, "x": 0.52}


def test_replay_is_a_seeded_permutation(bench: ModuleType) -> None:
    trials = [_trial(i, 0.1 * i, 1, 1) for i in range(8)]
    once, again = bench.replay(trials, 1), bench.replay(trials, 1)
    assert once == again
    assert sorted(t.value for t, _ in once) == sorted(t.value for t, _ in trials)
    assert [t.value for t, _ in bench.replay(trials, 2)] != [t.value for t, _ in once]


def test_strategies_are_built_from_the_study_file(bench: ModuleType) -> None:
    case = bench.CASES["softmax_mnist"]
    default = bench.case_spec(case, "default", 1)
    random = bench.case_spec(case, "random", 1)
    grid = bench.case_spec(case, "grid", 1)
    assert [s.name for s in default.stages] == ["coarse", "fine"] and default.seed == 1
    (r,) = random.stages
    assert (r.sampler, r.pruner, r.trials) == ("random", "none", sum(
        s.trials for s in default.stages))
    (g,) = grid.stages
    assert g.sampler == "grid" and g.trials == 6 * 3 * 3 * 3
    assert grid.fixed["optimizer"] == "momentum" and grid.train_limit == case.train_limit


def test_a_tiny_case_runs_every_strategy_through_the_engine(bench: ModuleType,
                                                           tmp_path: Path) -> None:
    """Two-layer net on 300 digits: default, random and grid all run and give trajectories."""
    case = bench.Case("lambda_search", train_limit=300, val_size=100,
                      grid={"lambda": [1e-4, 1e-2]})
    storage = f"sqlite:///{tmp_path / 'bench.db'}"
    data = None
    for strategy in ("default", "random", "grid"):
        spec = bench.case_spec(case, strategy, 0)
        spec = dataclasses.replace(
            spec, dataset="digits",
            stages=tuple(dataclasses.replace(s, trials=2) for s in spec.stages))
        if data is None:
            data = bench.load_case_data(spec, None)
        trials = bench.run_strategy(spec, storage, None)
        assert len(trials) == 2 * len(spec.stages)
        traj = bench.trajectory(trials, spec.direction)
        assert traj[-1][0] > 0 and 0.0 < traj[-1][2] <= 1.0
        assert all(fixed == spec.stage_fixed(spec.stages[-1]) for _, fixed in trials[-2:])
    config = bench.best_config(trials, spec.direction)
    assert 0.0 < bench.test_accuracy(spec, data, config, 300) <= 1.0


def test_summary_table_reports_ratios_to_the_default(bench: ModuleType) -> None:
    rows = [{"case": "c", "strategy": s, "seed": 0, "epochs": e, "seconds": 1.0,
             "reached": True, "total_epochs": e, "best_val": 0.9, "test_accuracy": 0.9,
             "best_known": 0.9, "hits": 1, "completed": 20}
            for s, e in (("default", 10), ("random", 40), ("grid", 200))]
    rows.append({**rows[2], "seed": 1})  # the grid replayed for a second seed: counted once
    table = bench.summary_table(rows)
    assert "| random | 1/1 | 40 | 1 | 4.0x |" in table
    assert "| grid | 2/2 | 200 | 1 | 20.0x |" in table
    assert table.count("| 1 / 20 (5.0 %) |") == 3


def test_in_window_counts_completed_trials_at_the_target(bench: ModuleType) -> None:
    """Pruned trials do not count; a completed trial counts by its val accuracy."""
    trials = [_trial(0, 0.80, 10, 1.0), _trial(1, None, 3, 0.5, accuracy=0.95),
              _trial(2, 0.90, 10, 2.0), _trial(3, 1.2, 10, 1.0, accuracy=0.91)]
    assert bench.in_window(trials, 0.9) == (2, 3)


def test_results_table_bolds_targets_met(results: ModuleType) -> None:
    row = {"study": "softmax_mnist", "wall_seconds": 120.0, "search_epochs": 300.0,
           "trials": {"complete": 40, "pruned": 10, "failed": 0},
           "final": {"test_accuracy": 0.9271, "config": {"epochs": 30}}}
    table = results.table([row, {**row, "study": "mlp_mnist"}])
    assert "| **0.9271** | >= 0.926 | 40/10/0 | 300 | 30 epochs | 2.0 min |" in table
    assert "| 0.9271 | >= 0.984 |" in table


def test_results_rejects_a_bad_per_study_override(results: ModuleType) -> None:
    with pytest.raises(SystemExit, match="expected STUDY=VALUE with STUDY one of"):
        results._per_study(["nosuch=3"], "=")


def test_an_edited_study_gets_fresh_benchmark_studies(bench: ModuleType) -> None:
    case = bench.CASES["lambda_search"]
    spec = bench.case_spec(case, "default", 0)
    edited = dataclasses.replace(spec, stages=spec.stages[:1])
    assert spec.name.startswith("bench-lambda_search-default-s0-")
    assert bench.fingerprint(edited) != bench.fingerprint(spec)
    assert bench.case_spec(case, "default", 0).name == spec.name


def test_same_training_drops_stage_sets_so_strategies_train_alike(bench: ModuleType) -> None:
    case = bench.CASES["lambda_search"]
    assert case.same_training
    plain = bench.load_spec("lambda_search")
    assert any(s.overrides for s in plain.stages)  # the study's fine stage trains longer
    for strategy in bench.STRATEGIES:
        spec = bench.case_spec(case, strategy, 0)
        assert all(spec.stage_fixed(s) == spec.fixed for s in spec.stages)
        assert spec.fixed["cycles"] == plain.fixed["cycles"]


def test_seed_table_marks_censored_runs(bench: ModuleType) -> None:
    rows = [{"case": "c", "strategy": "random", "seed": s, "epochs": e, "reached": ok}
            for s, e, ok in ((0, 40, True), (1, 90, False))]
    assert "| c | random | 40 | not reached: 90 |" in bench.seed_table(rows)

"""Options Optuna would only reject later, and limits: every sampler and pruner option is checked
against its table at load, a grid is sized before it is built, and jobs, threads, trials, refine
and confirm counts have a ceiling. Each is one line, exit code 1, nothing written."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from bad_studies import nothing_written, stored_args, study

import tuner
from objectives.threads import cores
from tuner.cli import main
from tuner.errors import SpecError, TunerError
from tuner.search.refine import refine_param
from tuner.search.samplers import check_stage
from tuner.spec.model import ParamSpace, Stage

LIMIT = 4 * cores()
SPACE_XY = "y = { low = 0, high = 10 }"


def _refine(tmp_path: Path, option: str) -> str:
    text = Path(study(tmp_path)).read_text() + (
        f'\n[[stages]]\nname = "fine"\ntrials = 2\n'
        f'refine = {{ from = "coarse", params = ["x"], {option} }}\n')
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return str(path)


def _sampler(text: str, space: str = "") -> Callable[[Path], list[str]]:
    return lambda t: [study(t, sampler=text, space=space)]


def _pruner(text: str) -> Callable[[Path], list[str]]:
    return lambda t: [study(t, pruner=text)]


AT = r"error: .*bad\.toml: stages\.coarse\."
CALLABLE = (r"is a Python callable in Optuna, which a study cannot hold \(its spec is stored as "
            r"data for every worker\); leave it out for Optuna's default\.$")

# (name, how to build the argv after `study`, the error line it must print)
CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("tpe gamma from TOML", _sampler('{ type = "tpe", gamma = 0.5 }'),
     AT + r"sampler\.gamma: " + CALLABLE),
    ("tpe weights from TOML", _sampler('{ type = "tpe", weights = 1 }'),
     AT + r"sampler\.weights: " + CALLABLE),
    ("tpe n_ei_candidates past the limit", _sampler('{ type = "tpe", n_ei_candidates = '
                                                   '1000000000 }'),
     AT + r"sampler\.n_ei_candidates: must be an int in \[1, 10000\]\. Got 1000000000 "
     r"instead\.$"),
    ("tpe seed of its own", _sampler('{ type = "tpe", seed = 3 }'),
     AT + r"sampler\.seed: is the study's: set `seed` at the top of the file or --seed\.$"),
    ("random with an option", _sampler('{ type = "random", n_startup_trials = 3 }'),
     AT + r"sampler\.n_startup_trials: unknown option; expected one of: none \(it takes no "
     r"options\)\.$"),
    ("grid param without a step", _sampler('"grid"'),
     AT + r"space\.x: the grid sampler needs `choices` or `step` for every param\.$"),
    ("grid step 1e-7", lambda t: [_grid(t, "x = { low = 0.0, high = 1.0, step = 1e-7 }")],
     AT + r"sampler: the grid has 10,000,001 points \(the product of each param's choices or "
     r"steps\); expected at most 100,000: use fewer choices or a larger step\.$"),
    ("step not dividing the range", lambda t: [study(t, space="y = { low = 0, high = 10, "
                                                          "step = 3 }")],
     AT + r"space\.y\.step: `high - low` must be a multiple of step \(else Optuna lowers high "
     r"without a word\), but got \(low=0, high=10, step=3\)\.$"),
    ("qmc unknown qmc_type", _sampler('{ type = "qmc", qmc_type = "lattice" }'),
     AT + r"sampler\.qmc_type: must be one of: sobol, halton\. Got 'lattice' instead\.$"),
    ("qmc independent sampler by name", _sampler('{ type = "qmc", independent_sampler = '
                                                 '"random" }'),
     AT + r"sampler\.independent_sampler: is a Python object in Optuna, which a study cannot "
     r"hold"),
    ("cmaes negative sigma0", _sampler('{ type = "cmaes", sigma0 = -1 }'),
     AT + r"sampler\.sigma0: must be a number in \(0, inf\)\. Got -1 instead\.$"),
    ("cmaes popsize past the limit", _sampler('{ type = "cmaes", popsize = 100000 }'),
     AT + r"sampler\.popsize: must be an int in \[2, 10000\]\. Got 100000 instead\.$"),
    ("cmaes restart_strategy Optuna ignores", _sampler('{ type = "cmaes", restart_strategy = '
                                                       '"ipop" }'),
     AT + r"sampler\.restart_strategy: is no longer used by Optuna \(deprecated in 4\.4, "
     r"ignored\); leave it out\.$"),
    ("cmaes x0 out of bounds", _sampler('{ type = "cmaes", x0 = { x = 50.0, y = 1 } }',
                                        SPACE_XY),
     AT + r"sampler\.x0\.x: must lie in \[-10, 10\]\. Got 50\.0 instead\.$"),
    ("cmaes x0 missing a param", _sampler('{ type = "cmaes", x0 = { x = 1.0 } }', SPACE_XY),
     AT + r"sampler\.x0: misses a start value for 'y'; expected one for each of: x, y\.$"),
    ("gp negative n_startup_trials", _sampler('{ type = "gp", n_startup_trials = -1 }'),
     AT + r"sampler\.n_startup_trials: must be an int in \[0, 100000\]\. Got -1 instead\.$"),
    ("gp deterministic_objective as a string", _sampler('{ type = "gp", '
                                                       'deterministic_objective = "yes" }'),
     AT + r"sampler\.deterministic_objective: must be true or false\. Got 'yes' instead\.$"),
    ("median negative warm-up", _pruner('{ type = "median", n_warmup_steps = -1 }'),
     AT + r"pruner\.n_warmup_steps: must be an int in \[0, inf\)\. Got -1 instead\.$"),
    ("percentile missing", _pruner('{ type = "percentile", n_startup_trials = 2 }'),
     AT + r"pruner\.percentile: missing required option\.$"),
    ("percentile above 100", _pruner('{ type = "percentile", percentile = 150.0 }'),
     AT + r"pruner\.percentile: must be a number in \[0, 100\]\. Got 150\.0 instead\.$"),
    ("hyperband reduction factor 1", _pruner('{ type = "hyperband", reduction_factor = 1 }'),
     AT + r"pruner\.reduction_factor: must be an int in \[2, inf\)\. Got 1 instead\.$"),
    ("hyperband max_resource as a word", _pruner('{ type = "hyperband", max_resource = "big" '
                                                 '}'),
     AT + r"pruner\.max_resource: must be an int in \[1, inf\) or \"auto\"\. Got 'big' "
     r"instead\.$"),
    ("hyperband with no bracket", _pruner('{ type = "hyperband", min_resource = 10, '
                                          'max_resource = 5 }'),
     AT + r"pruner\.max_resource: must be >= min_resource \(10\); with less, hyperband has no "
     r"bracket and never prunes\. Got 5 instead\.$"),
    ("successive halving fractional rate", _pruner('{ type = "successive_halving", '
                                                  'min_early_stopping_rate = 1.5 }'),
     AT + r"pruner\.min_early_stopping_rate: must be an int in \[0, inf\)\. Got 1\.5 "
     r"instead\.$"),
    ("threshold upper as a string", _pruner('{ type = "threshold", upper = "1" }'),
     AT + r"pruner\.upper: must be a number in \(-inf, inf\)\. Got '1' instead\.$"),
    ("none with an option", _pruner('{ type = "none", n_startup_trials = 5 }'),
     AT + r"pruner\.n_startup_trials: unknown option; expected one of: none \(it takes no "
     r"options\)\.$"),
    ("refine margin 2000", lambda t: [_refine(t, "margin = 2000")],
     r"error: .*bad\.toml: stages\.fine\.refine\.margin: must be a number in \[0, 10\]\. Got "
     r"2000 instead\.$"),
    ("refine enqueue negative", lambda t: [_refine(t, "enqueue = -1")],
     r"error: .*bad\.toml: stages\.fine\.refine\.enqueue: must be an int in \[0, 100000\]\. "
     r"Got -1 instead\.$"),
    ("refine top_k past the limit", lambda t: [_refine(t, "top_k = 1000000")],
     r"error: .*bad\.toml: stages\.fine\.refine\.top_k: must be an int in \[1, 100000\]\. "
     r"Got 1000000 instead\.$"),
    ("stage trials past the limit", lambda t: [_edited(study(t), "trials = 3",
                                                       "trials = 1000000")],
     AT + r"trials: must be an int in \[1, 100000\]\. Got 1000000 instead\.$"),
    ("--trials past the limit", lambda t: [study(t), "--trials", "1000000"],
     r"error: --trials must be an int in \[1, 100000\]\. Got 1000000 instead\.$"),
    ("confirm repeats past the limit", lambda t: [study(t, final="[final]\nconfirm = { "
                                                  "repeats = 5000 }")],
     r"error: .*bad\.toml: final\.confirm\.repeats: must be an int in \[1, 1000\]\. Got 5000 "
     r"instead\.$"),
    ("--jobs 10000", lambda t: [study(t), "--jobs", "10000"],
     rf"error: jobs must be at most {LIMIT} \(4 per core; this machine has {cores()}\)\. Got "
     r"10000 instead\.$"),
    ("--threads 10000", lambda t: [study(t), "--threads", "10000"],
     rf"error: threads must be at most {LIMIT} \(4 per core; this machine has {cores()}\)\. "
     r"Got 10000 instead\.$"),
    ("--jobs past the cluster limit", lambda t: [study(t), "--jobs", "5000", "--cluster",
                                                 "tcp://127.0.0.1:1"],
     r"error: jobs must be at most 1024 on a Dask cluster\. Got 5000 instead\.$"),
]


def _edited(path: str, old: str, new: str) -> str:
    file = Path(path)
    file.write_text(file.read_text().replace(old, new))
    return path


def _grid(tmp_path: Path, space: str) -> str:
    return _edited(study(tmp_path, sampler='"grid"'), "x = { low = -10.0, high = 10.0 }", space)


@pytest.mark.parametrize(("argv", "line"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_option_is_one_line_exit_1_and_no_trial(
    argv: Callable[[Path], list[str]], line: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUNER_CLUSTER", raising=False)
    code = main(["study", *argv(tmp_path), *stored_args(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.match(line, err.strip()), err
    nothing_written(tmp_path)


@pytest.mark.parametrize(("settings", "message"), [
    ({"jobs": 10000}, rf"^jobs must be at most {LIMIT} \(4 per core; this machine has "
     rf"{cores()}\)\. Got 10000 instead\.$"),
    ({"threads": 10000}, rf"^threads must be at most {LIMIT} "),
    ({"trials": 1000000}, r"^--trials must be an int in \[1, 100000\]\. Got 1000000 "
     r"instead\.$"),
    ({"trials": "5"}, r"^--trials must be an int in \[1, 100000\]\. Got '5' instead\.$"),
    ({"trials": True}, r"^--trials must be an int in \[1, 100000\]\. Got True instead\.$"),
    ({"confirm": {"top_k": 5000}}, r"final\.confirm\.top_k: must be an int in \[1, 1000\]"),
])
def test_the_api_raises_the_same_line(settings: dict[str, object], message: str,
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNER_CLUSTER", raising=False)
    with pytest.raises(SpecError, match=message):
        tuner.run_study(study(tmp_path), storage=f"sqlite:///{tmp_path / 'tuner.db'}",
                        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", **settings)
    nothing_written(tmp_path)


def test_the_api_refuses_a_study_file_option_with_the_cli_line(tmp_path: Path) -> None:
    path = study(tmp_path, sampler='{ type = "tpe", gamma = 0.5 }')
    with pytest.raises(TunerError, match=r"stages\.coarse\.sampler\.gamma: is a Python "
                       r"callable in Optuna"):
        tuner.run_study(path, storage=f"sqlite:///{tmp_path / 'tuner.db'}", tracking=False)
    nothing_written(tmp_path)


def test_a_spec_changed_in_python_is_checked_against_the_tables(tmp_path: Path) -> None:
    spec = tuner.load_study_spec(study(tmp_path))
    stage = spec.stages[0]
    bad = replace(spec, stages=(replace(stage, sampler="cmaes",
                                        sampler_options={"sigma0": -1.0}),))
    with pytest.raises(SpecError, match=r"stages\.coarse\.sampler\.sigma0: must be a number "
                       r"in \(0, inf\)\. Got -1\.0 instead\.$"):
        tuner.run_study(bad, storage=f"sqlite:///{tmp_path / 'tuner.db'}", tracking=False)
    nothing_written(tmp_path)


def test_the_load_check_samples_past_the_start_up_trials() -> None:
    """Before the table, TPE's gamma = 0.5 passed the check (3 trials, all start-up) and broke
    trial 11; the check itself now reaches TPE's model, so an option the table let through
    that breaks the model is still caught at load."""
    stage = Stage(name="s", sampler="tpe", sampler_options={"gamma": 0.5}, pruner="none",
                  pruner_options={}, trials=20, timeout=None,
                  space=(ParamSpace(name="x", kind="float", low=0.0, high=1.0),))
    with pytest.raises(SpecError, match=r"TypeError: 'float' object is not callable"):
        check_stage(stage, ["minimize"], "minimize", "here.toml")


def test_a_wide_refine_margin_stays_within_the_bounds() -> None:
    """A margin stored before the limit (2000) on a log param overflowed exp(); the bounds
    are now clipped before leaving log space."""
    param = ParamSpace(name="lr", kind="float", low=1e-6, high=10.0, log=True)
    refined = refine_param(param, [1e-3], 2000.0)
    assert (refined.low, refined.high) == (1e-6, 10.0)


def test_the_cluster_limit_applies_with_tuner_cluster_set(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("TUNER_CLUSTER", "tcp://127.0.0.1:1")
    assert tuner.RunOptions(jobs=LIMIT + 1).jobs == LIMIT + 1
    with pytest.raises(SpecError, match=r"^jobs must be at most 1024 on a Dask cluster"):
        tuner.RunOptions(jobs=1025)


def test_a_config_asking_for_too_many_threads_is_one_line(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    assert main(["run", "softmax", "--dataset", "digits", "--set", "threads=5000"]) == 1
    assert capsys.readouterr().err == (
        "error: The 'threads' parameter must be in [0, 1024]. Got 5000 instead.\n")

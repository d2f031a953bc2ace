"""Study files: every validation message names the file and key; overrides resolve once."""

from __future__ import annotations

from pathlib import Path

import pytest

import tuner
from tuner.cli import main
from tuner.errors import SpecError
from tuner.spec import load_spec

HEAD = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
metric = "val_accuracy"
"""

STAGE = """
[[stages]]
name = "coarse"
sampler = "random"
trials = 4
[stages.space]
x = { low = -10.0, high = 10.0 }
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_valid_study_resolves_fixed_and_stages(tmp_path: Path) -> None:
    text = HEAD + "[fixed]\nepochs = 2\n" + STAGE + """
optimizer = { choices = ["sgd", "momentum"] }
momentum = { low = 0.5, high = 0.9, when = { optimizer = ["momentum"] } }

[[stages]]
name = "fine"
sampler = { type = "tpe", n_startup_trials = 2 }
pruner = { type = "median", n_startup_trials = 1 }
trials = 3
refine = { from = "coarse", params = ["x"], top_k = 2, enqueue = 5 }
[stages.space]
y = { low = 0, high = 5 }

[final]
monitor = 10
set = { epochs = 3 }
"""
    spec = load_spec(write(tmp_path, text))
    assert spec.name == "s" and spec.direction == "maximize"
    assert spec.fixed["epochs"] == 2 and spec.fixed["x"] == 0.0
    fine = spec.stage("fine")
    assert [p.name for p in fine.space] == ["x", "optimizer", "momentum", "y"]
    assert fine.space[2].when == (("optimizer", ("momentum",)),)
    assert fine.refine is not None and fine.refine.enqueue == 3  # capped at the stage's trials
    assert fine.sampler_options == {"n_startup_trials": 2}
    assert spec.final.overrides == {"epochs": 3} and spec.final.monitor == 10


def test_overrides_trials_set_dataset_seed(tmp_path: Path) -> None:
    text = HEAD + STAGE + "y = { low = 0, high = 5 }\n"
    spec = load_spec(write(tmp_path, text), dataset="mnist", overrides={"x": "1.5", "epochs": "7"},
                     trials=9, seed=4)
    assert spec.dataset == "mnist" and spec.seed == 4
    assert spec.fixed["x"] == 1.5 and spec.fixed["epochs"] == 7
    assert spec.stages[0].trials == 9
    assert [p.name for p in spec.stages[0].space] == ["y"]  # --set pins x


def test_stage_set_fixes_params_for_that_stage_only(tmp_path: Path) -> None:
    text = HEAD + "[fixed]\nepochs = 2\n" + STAGE + """
[[stages]]
name = "fine"
trials = 2
refine = { from = "coarse", params = ["x"] }
set = { epochs = 5, y = 4 }
"""
    path = write(tmp_path, text)
    spec = load_spec(path)
    assert spec.stage("coarse").overrides == {}
    assert spec.stage("fine").overrides == {"epochs": 5, "y": 4}
    assert spec.stage_fixed(spec.stage("coarse"))["epochs"] == 2
    assert spec.stage_fixed(spec.stage("fine"))["epochs"] == 5
    spec = load_spec(path, overrides={"epochs": "3"})  # --set wins over a stage's set
    assert spec.stage_fixed(spec.stage("fine"))["epochs"] == 3
    assert spec.stage_fixed(spec.stage("fine"))["y"] == 4


ERRORS = [
    ("a = 1\nb = \n", r"s\.toml: malformed TOML: .*line 2"),
    (HEAD.replace("tests.toy_objective:TOY", "nope") + STAGE,
     r"s\.toml: objective: Unknown objective 'nope'; valid objectives: softmax"),
    (HEAD.replace("tests.toy_objective:TOY", "tests.nothing_here:X") + STAGE,
     r"objective: cannot import module 'tests.nothing_here'"),
    (HEAD.replace("tests.toy_objective:TOY", "tests.toy_objective:NOPE") + STAGE,
     r"objective: module 'tests.toy_objective' has no attribute 'NOPE'"),
    (HEAD + "colour = 1\n" + STAGE, r"s\.toml: colour: unknown key"),
    (HEAD, r"s\.toml: stages: missing required key"),
    (HEAD + "stages = []\n", r"stages: at least one \[\[stages\]\] table is required"),
    (HEAD.replace('"val_accuracy"', '"val_acc"').replace("tests.toy_objective:TOY", "softmax")
     + STAGE.replace("x = { low = -10.0, high = 10.0 }", "lr = { low = 0.01, high = 0.1 }"),
     r"metric: must be one of: train_loss, train_accuracy, val_loss, val_accuracy"),
    (HEAD + 'direction = "up"\n' + STAGE, r"direction: must be 'maximize' or 'minimize'"),
    (HEAD + "seed = 1.5\n" + STAGE, r"s\.toml: seed: must be of type int\. Got 1\.5"),
    (HEAD + "[fixed]\nepochs = \"many\"\n" + STAGE,
     r"fixed\.epochs: The 'epochs' parameter must be of type int"),
    (HEAD + "[fixed]\nzzz = 1\n" + STAGE, r"fixed\.zzz: Unknown parameter 'zzz'"),
    (HEAD + STAGE.replace('"random"', '"annealing"'),
     r"stages\.coarse\.sampler: unknown sampler 'annealing'; expected one of: tpe, random"),
    (HEAD + STAGE.replace('"random"', '{ type = "tpe", bogus = 1 }'),
     r"stages\.coarse\.sampler\.bogus: unknown option; expected one of: consider_endpoints"),
    (HEAD + STAGE.replace('sampler = "random"', 'sampler = "random"\npruner = "asha"'),
     r"stages\.coarse\.pruner: unknown pruner 'asha'"),
    (HEAD + STAGE.replace('sampler = "random"', 'pruner = { type = "percentile" }'),
     r"stages\.coarse\.pruner\.percentile: missing required option\."),
    (HEAD + STAGE.replace('sampler = "random"', 'pruner = { n_startup_trials = 1 }'),
     r"stages\.coarse\.pruner\.type: missing or not a string"),
    (HEAD + STAGE.replace("trials = 4", 'trials = "ten"'),
     r"stages\.coarse\.trials: must be of type int\. Got 'ten' instead"),
    (HEAD + STAGE.replace("trials = 4", "trials = 0"),
     r"stages\.coarse\.trials: must be an int in \[1, 100000\]"),
    (HEAD + STAGE.replace("trials = 4", ""),
     r"stages\.coarse\.trials: a stage needs trials, timeout or both"),
    (HEAD + STAGE.replace("trials = 4", "trials = 4\ntimeout = -1"),
     r"stages\.coarse\.timeout: must be > 0 seconds"),
    (HEAD + STAGE + STAGE, r"stages\.coarse\.name: duplicate stage name"),
    (HEAD + STAGE.replace('name = "coarse"', 'name = "a/b"'), r"stages\[0\]\.name: must be a"),
    (HEAD + STAGE + "zzz = { low = 1, high = 2 }\n",
     r"stages\.coarse\.space\.zzz: unknown param for objective 'toy'; valid keys: diverge_above"),
    (HEAD + STAGE.replace("low = -10.0, high = 10.0", "low = 5.0, high = 1.0"),
     r"stages\.coarse\.space\.x: `low <= high` must hold, but got \(low=5\.0, high=1\.0\)"),
    (HEAD + STAGE.replace("low = -10.0, high = 10.0", "low = 0.0, high = 1.0, log = true"),
     r"stages\.coarse\.space\.x\.low: must be > 0 for a log-scale param\. Got 0\.0"),
    (HEAD + STAGE + "optimizer = { choices = [] }\n",
     r"stages\.coarse\.space\.optimizer\.choices: must not be empty"),
    (HEAD + STAGE + 'optimizer = { choices = ["sgd", "rmsprop"] }\n',
     r"space\.optimizer\.choices: The 'optimizer' parameter must be one of: sgd, momentum, adam"),
    (HEAD + STAGE.replace("low = -10.0", 'low = "a"'),
     r"stages\.coarse\.space\.x\.low: must be of type int or float\. Got 'a' instead"),
    (HEAD + STAGE.replace("high = 10.0", "high = 20.0"),
     r"space\.x\.high: The 'x' parameter must be in \[-10\.0, 10\.0\]\. Got 20\.0 instead"),
    (HEAD + STAGE + "y = { low = 0.5, high = 2 }\n",
     r"space\.y\.low: must be of type int\. Got 0\.5 instead"),
    (HEAD + STAGE + 'y = { type = "float", low = 0, high = 2 }\n',
     r"space\.y\.type: a int param cannot be searched as float"),
    (HEAD + STAGE + "milestones = { low = 1, high = 2 }\n",
     r"space\.milestones: a ints param can only be searched over choices = \[\.\.\.\]"),
    (HEAD + STAGE + 'y = { type = "normal", low = 0, high = 2 }\n',
     r"space\.y\.type: must be one of: float, int, categorical"),
    (HEAD + STAGE + "y = { low = 0, high = 2, scale = 1 }\n", r"space\.y\.scale: unknown key"),
    (HEAD + STAGE + "momentum = { low = 0.5, high = 0.9, when = { x = [1.0] } }\n",
     r"space\.momentum\.when\.x: must name a categorical param listed before it"),
    (HEAD + STAGE + 'optimizer = { choices = ["sgd"] }\n'
     'momentum = { low = 0.5, high = 0.9, when = { optimizer = ["adam"] } }\n',
     r"space\.momentum\.when\.optimizer: 'adam' is not one of optimizer's choices"),
    (HEAD + STAGE.replace('"random"', '"grid"'),
     r"stages\.coarse\.space\.x: the grid sampler needs `choices` or `step` for every param"),
    (HEAD + STAGE + '[[stages]]\nname = "fine"\ntrials = 2\n'
     'refine = { from = "later", params = ["x"] }\n',
     r"stages\.fine\.refine\.from: must name an earlier stage; got 'later'"),
    (HEAD + STAGE + '[[stages]]\nname = "fine"\ntrials = 2\n'
     'refine = { from = "coarse", params = ["y"] }\n',
     r"stages\.fine\.refine\.params: 'y' is not a param of this stage's space"),
    (HEAD + STAGE + '[[stages]]\nname = "fine"\ntrials = 2\n'
     'refine = { from = "coarse", params = ["x"], top_k = 0 }\n',
     r"stages\.fine\.refine\.top_k: must be an int in \[1, 100000\]"),
    (HEAD + STAGE + '[[stages]]\nname = "fine"\ntrials = 2\n',
     r"stages\.fine\.space: a stage needs at least one param to search"),
    (HEAD + STAGE.replace("trials = 4", "trials = 4\nset = { x = 1.0 }"),
     r"stages\.coarse\.set\.x: is searched in this stage's space; set it in \[fixed\]"),
    (HEAD + STAGE.replace("trials = 4", "trials = 4\nset = { epochs = 0 }"),
     r"stages\.coarse\.set\.epochs: The 'epochs' parameter must be in \[1, inf\]"),
    (HEAD + STAGE.replace("trials = 4", "trials = 4\nset = 3"),
     r"stages\.coarse\.set: must be of type dict\. Got 3 instead"),
    (HEAD + STAGE + "[final]\nmonitor = 0\n", r"final\.monitor: must be a count >= 1 or a "),
    (HEAD + STAGE + "[final]\nmonitor = 1.5\n", r"fraction in \(0, 1\)\. Got 1\.5 instead"),
    (HEAD + STAGE + "[final]\nset = { epochs = 0 }\n",
     r"final\.set\.epochs: The 'epochs' parameter must be in \[1, inf\]"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_every_validation_message(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        tuner.load_study_spec(write(tmp_path, text))


def test_override_errors(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + STAGE)
    with pytest.raises(SpecError, match=r"--set zzz=1: Unknown parameter 'zzz'"):
        load_spec(path, overrides={"zzz": "1"})
    with pytest.raises(SpecError, match=r"--set epochs=x: The 'epochs' parameter must be of type"):
        load_spec(path, overrides={"epochs": "x"})
    with pytest.raises(SpecError,
                       match=r"--trials must be an int in \[1, 100000\]\. Got 0 instead"):
        load_spec(path, trials=0)


def test_missing_study_file() -> None:
    with pytest.raises(SpecError, match=r"No study file studies/nothing\.toml and no built-in "
                       r"study 'nothing'; built-in studies: .*lambda_search"):
        load_spec("nothing")
    with pytest.raises(SpecError, match=r"Study file /no/such\.toml does not exist"):
        load_spec("/no/such.toml")


def test_cli_prints_one_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, HEAD + STAGE.replace('"random"', '"annealing"'))
    assert main(["study", path, "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown sampler 'annealing'" in err


def test_dry_run_prints_resolved_study(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", "lambda_search", "--dataset", "digits", "--dry-run",
                 "--set", "cycles=1", "--trials", "3"]) == 0
    out = capsys.readouterr().out
    assert "objective two_layer, dataset digits, minimize val_loss" in out
    assert "cycles=1" in out and "hidden=50" in out
    assert "stage coarse (lambda_search/coarse): 3 trials, sampler qmc" in out
    assert "refine lambda from coarse top 3" in out
    assert "lambda: float [1e-05, 0.1] log" in out
    assert "    set cycles" not in out  # --set cycles=1 wins over the fine stage's set
    assert main(["study", "lambda_search", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "    set cycles=12" in out  # fine trains as long as the final
    assert "final: monitor 0.02, set cycles=12" in out

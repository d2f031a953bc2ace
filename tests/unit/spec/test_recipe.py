"""The default recipe: a study file with one [space] and `trials = N` runs coarse (scrambled
QMC, N // 2) -> fine (TPE in the coarse top 3's box, the rest), exactly N evaluations; from
N = 40 a quarter of N goes to a confirm stage first (N evaluations at most); the same from
Python with space= and trials=; bad recipes are one line naming the file's own keys."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from toy_studies import TWO_STAGES

import tuner
from tuner.errors import SpecError
from tuner.search.trials import own_trials
from tuner.spec import load_spec
from tuner.spec.describe import describe
from tuner.spec.record import from_record, to_record

RECIPE = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
metric = "val_accuracy"
seed = 3
trials = 11
{extra}
[fixed]
epochs = 3

[space]
x = {{ low = -10.0, high = 10.0 }}
y = {{ low = 0, high = 10 }}
optimizer = {{ choices = ["sgd", "momentum"] }}
"""


def recipe_file(t: Path, extra: str = "", text: str = RECIPE) -> Path:
    path = t / "rec.toml"
    path.write_text(text.format(extra=extra))
    return path


def test_one_space_becomes_coarse_then_fine_in_exactly_n_trials(tmp_path: Path) -> None:
    spec = load_spec(recipe_file(tmp_path, 'pruner = { type = "median" }'))
    coarse, fine = spec.stages
    assert (coarse.name, coarse.sampler, coarse.sampler_options) == (
        "coarse", "qmc", {"scramble": True})
    assert (fine.name, fine.sampler) == ("fine", "tpe")
    assert (coarse.trials, fine.trials, spec.recipe) == (5, 6, 11)
    assert coarse.pruner == fine.pruner == "median"
    assert fine.refine is not None and fine.refine.source == "coarse"
    assert fine.refine.params == ("x", "y") and fine.refine.top_k == 3  # choices all kept
    assert [p.name for p in fine.space] == ["x", "y", "optimizer"]
    assert "default recipe: 11 trials = 5 coarse (scrambled QMC over the space) + 6 fine " \
        "(TPE in the box of the coarse top 3)" in describe(spec)
    assert from_record(to_record(spec)).recipe == 11
    again = load_spec(recipe_file(tmp_path), trials=8)  # --trials sets the total
    assert [s.trials for s in again.stages] == [4, 4] and again.recipe == 8
    pinned = load_spec(recipe_file(tmp_path), overrides={"x": 1.0})  # --set x=1.0
    assert [p.name for p in pinned.stages[0].space] == ["y", "optimizer"]
    assert pinned.stages[1].refine is not None and pinned.stages[1].refine.params == ("y",)


def test_the_recipe_spends_exactly_its_evaluations(tmp_path: Path, storage_url: str) -> None:
    result = tuner.run_study(recipe_file(tmp_path, 'pruner = { type = "median", '
                                         'n_startup_trials = 2 }'),
                             storage=storage_url, tracking=False, progress=False)
    finished = 0
    for stage, target in (("coarse", 5), ("fine", 6)):
        trials = own_trials(optuna.load_study(study_name=f"rec/{stage}",
                                              storage=storage_url).trials)
        assert len(trials) == target  # the fine stage's copies of coarse trials aside
        finished += sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert finished == 11 and set(result.stages) == {"coarse", "fine"}


def test_space_and_trials_from_python_replace_the_stages(tmp_path: Path,
                                                         storage_url: str) -> None:
    path = tmp_path / "two.toml"
    path.write_text(TWO_STAGES)
    space = {"x": {"low": -5.0, "high": 5.0}}
    spec = tuner.load_study_spec(path, space=space, trials=6)
    assert [(s.name, s.trials) for s in spec.stages] == [("coarse", 3), ("fine", 3)]
    assert [p.name for p in spec.stages[0].space] == ["x"] and spec.recipe == 6
    result = tuner.run_study(path, space=space, trials=6, storage=storage_url, tracking=False,
                             progress=False)
    assert result.stages["coarse"].complete + result.stages["coarse"].pruned == 3
    with pytest.raises(SpecError, match=r"^space= runs the default recipe .* as trials=\.$"):
        tuner.load_study_spec(path, space=space)


def _split(spec: tuner.StudySpec) -> tuple[int | None, ...]:
    confirm = spec.final.confirm
    return (*(s.trials for s in spec.stages),
            *((confirm.top_k, confirm.repeats) if confirm else ()))


def test_from_40_evaluations_a_quarter_confirms_the_answer(tmp_path: Path) -> None:
    forty = load_spec(recipe_file(tmp_path), trials=40)
    assert _split(forty) == (15, 15, 5, 2) and forty.recipe == 40
    assert "default recipe: 40 trials = 15 coarse (scrambled QMC over the space) + 15 fine " \
        "(TPE in the box of the coarse top 3) + 10 confirm (the top 5 trained again, 2 " \
        "repeats each on average, raced)" in describe(forty)
    assert _split(load_spec(recipe_file(tmp_path), trials=100)) == (37, 38, 5, 5)
    assert _split(load_spec(recipe_file(tmp_path), trials=39)) == (19, 20)
    assert _split(load_spec(recipe_file(tmp_path), trials=40, confirm=False)) == (20, 20)
    off = recipe_file(tmp_path, "[final]\nconfirm = false")
    assert _split(load_spec(off, trials=40)) == (20, 20)
    assert _split(load_spec(off, trials=40, confirm=True)) == (15, 15, 5, 2)  # the recipe's
    on = recipe_file(tmp_path, "[final]\nconfirm = true")  # the recipe's own, from N
    assert _split(load_spec(on, trials=200)) == (75, 75, 5, 10)
    assert _split(load_spec(on, trials=30)) == (10, 10, 5, 2)  # below 40: top_k 5 x 2
    assert _split(load_spec(recipe_file(tmp_path), trials=20100))[2:] == (5, 1000)  # capped
    own = recipe_file(tmp_path, "[final]\nconfirm = { top_k = 3, repeats = 2 }")
    assert _split(load_spec(own)) == (2, 3, 3, 2)  # a file's table comes out of N too
    with pytest.raises(SpecError, match=r"trials: must leave the coarse and fine stages 2 "):
        load_spec(recipe_file(tmp_path), trials=11, confirm=True)  # 5 x 2 of 11
    several = recipe_file(tmp_path, 'metrics = ["val_accuracy", "seconds"]').read_text()
    path = tmp_path / "several.toml"
    path.write_text(several.replace('metric = "val_accuracy"\n', ""))
    assert _split(load_spec(path, trials=40)) == (20, 20)  # no single best to confirm


@pytest.mark.parametrize(("extra", "text", "message"), [
    ("", RECIPE.replace("trials = 11\n", ""), "trials: missing required key."),
    ("", RECIPE.replace("trials = 11", "trials = 1"),
     "trials: must be an int in [2, 100000] (the recipe's coarse and fine stages"),
    ('pruner = "nope"', RECIPE, "pruner: unknown pruner 'nope'; expected one of:"),
    ("", RECIPE.replace('y = {{ low = 0, high = 10 }}', 'zz = {{ low = 0, high = 1 }}'),
     "space.zz: unknown param for objective"),
    ("", RECIPE + '\n[[stages]]\nname = "a"\ntrials = 2\n[stages.space]\nx = {{ low = 0.0, '
     'high = 1.0 }}\n', "space: a top-level space, trials, pruner and stop describe the "
     "default recipe (coarse -> fine); with [[stages]], give each stage its own."),
    ("[final]\nconfirm = { top_k = 5, repeats = 2 }", RECIPE,
     "trials: must leave the coarse and fine stages 2 evaluations or more after the confirm "
     "stage's 10 (5 x 2). Got 11 instead."),
])
def test_a_bad_recipe_is_one_line_naming_its_key(tmp_path: Path, extra: str, text: str,
                                                 message: str) -> None:
    path = recipe_file(tmp_path, extra, text)
    with pytest.raises(SpecError, match=re.escape(f"{path}: {message}")):
        load_spec(path)


def test_a_confirmed_recipe_spends_at_most_its_evaluations(tmp_path: Path,
                                                           storage_url: str) -> None:
    """N = 40 on a noisy objective: 15 coarse, 15 fine, then at most 10 confirm repeats; the
    answer is the confirm stage's."""
    path = recipe_file(tmp_path, text=RECIPE.replace("trials = 11", "trials = 40").replace(
        "epochs = 3", "epochs = 3\nnoise = 0.05"))
    result = tuner.run_study(path, storage=storage_url, tracking=False, progress=False)
    spent = {stage: len(own_trials(optuna.load_study(study_name=f"rec/{stage}",
                                                     storage=storage_url).trials))
             for stage in ("coarse", "fine", "confirm")}
    assert spent["coarse"] == spent["fine"] == 15 and 5 <= spent["confirm"] <= 10
    assert result.answer is not None and result.answer.evaluations >= 2
    assert result.answer.rule.endswith("confirmed")


def test_a_final_retrains_the_answer_the_study_confirmed(tmp_path: Path,
                                                         storage_url: str) -> None:
    """The study ran with --trials 40 (so with a confirm stage) while its file says 20: the
    final follows the confirm stage the study ran, not the file's split."""
    path = recipe_file(tmp_path, text=RECIPE.replace("trials = 11", "trials = 20").replace(
        "epochs = 3", "epochs = 3\nnoise = 0.05"))
    result = tuner.run_study(path, trials=40, storage=storage_url, tracking=False,
                             progress=False)
    assert result.answer is not None and result.answer.rule.endswith("confirmed")
    final = tuner.final(path, storage=storage_url, tracking=False)
    assert final.answer == result.answer

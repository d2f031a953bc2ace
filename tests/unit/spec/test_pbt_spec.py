"""A PBT stage's `pbt` table (spec/pbt.py): its defaults and trial count, its record for
workers, and one line naming the key for every bad value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tuner.errors import SpecError
from tuner.spec import load_spec
from tuner.spec.record import from_record, to_record

STUDY = """
objective = "{objective}"
dataset = "digits"
metric = "val_accuracy"
seed = 0
{top}
[[stages]]
name = "pbt"
{stage}
pbt = {{ {pbt} }}
[stages.space]
lr = {{ low = 1e-3, high = 0.3, log = true }}
weight_decay = {{ low = 1e-6, high = 1e-2, log = true }}
batch_size = {{ choices = [16, 32] }}
"""


def _load(tmp_path: Path, pbt: str = 'mutable = ["lr"]', stage: str = "", top: str = "",
          objective: str = "mlp") -> object:
    path = tmp_path / "pbt.toml"
    path.write_text(STUDY.format(objective=objective, pbt=pbt, stage=stage, top=top))
    return load_spec(path)


def test_a_pbt_stage_has_population_x_generations_trials_and_no_pruner(tmp_path: Path
                                                                       ) -> None:
    spec = _load(tmp_path, 'population = 6, generations = 4, mutable = ["lr", "weight_decay"]')
    (stage,) = spec.stages  # type: ignore[attr-defined]
    assert stage.pbt is not None and stage.trials == 24
    assert (stage.sampler, stage.pruner) == ("qmc", "none")
    assert (stage.pbt.interval, stage.pbt.quantile, stage.pbt.perturb, stage.pbt.resample) == \
        (2, 0.25, (0.8, 1.25), 0.25)
    assert from_record(to_record(spec)).stages[0].pbt == stage.pbt  # type: ignore[arg-type]


@pytest.mark.parametrize(("pbt", "stage", "top", "objective", "says"), [
    ('mutable = ["batch_size"]', "", "", "mlp", "pbt.mutable: 'batch_size' cannot change"),
    ('mutable = ["momentum"]', "", "", "mlp", "'momentum' is not a param of this stage's"),
    ("mutable = []", "", "", "mlp", "pbt.mutable: must list one or more"),
    ('mutable = ["lr"], population = 1', "", "", "mlp", "pbt.population: must be an int"),
    ('mutable = ["lr"], exploit = { quantile = 0.6 }', "", "", "mlp",
     "pbt.exploit.quantile: must be in (0, 0.5]"),
    ('mutable = ["lr"], explore = { perturb = [0.8, -1] }', "", "", "mlp",
     "pbt.explore.perturb: must list factors > 0"),
    ('mutable = ["lr"], explore = { resample = 2 }', "", "", "mlp",
     "pbt.explore.resample: must be a probability"),
    ('mutable = ["lr"], from = "coarse"', "", "", "mlp", "pbt.from: must name an earlier"),
    ('mutable = ["lr"], speed = 3', "", "", "mlp", "pbt.speed: unknown key"),
    ('mutable = ["lr"]', "trials = 5", "", "mlp", "stages.pbt.trials: does not apply"),
    ('mutable = ["lr"]', 'pruner = "median"', "", "mlp", "stages.pbt.pruner: must be none"),
    ('mutable = ["lr"]', "", "cv = 5", "mlp", "PBT members continue from checkpoints"),
])
def test_a_bad_pbt_table_is_one_line(tmp_path: Path, pbt: str, stage: str, top: str,
                                     objective: str, says: str) -> None:
    with pytest.raises(SpecError) as caught:
        _load(tmp_path, pbt, stage, top, objective)
    message = str(caught.value)
    assert says in message and "\n" not in message


def test_an_objective_without_checkpoints_cannot_be_a_pbt_stage(tmp_path: Path) -> None:
    path = tmp_path / "toy.toml"
    path.write_text(STUDY.format(objective="tests.toy_objective:TOY", stage="", top="",
                                 pbt='mutable = ["lr"]').split("weight_decay")[0])
    with pytest.raises(SpecError, match="cannot continue from a checkpoint, which PBT members"):
        load_spec(path)


@pytest.mark.parametrize(("fixed", "stage", "says"), [
    ("epochs = 5", "", "the run is 5 reporting steps long, fewer than generations x interval"),
    ("epochs = 8", "timeout = 60", "stages.pbt.timeout: does not apply to a PBT stage"),
])
def test_a_pbt_stage_needs_a_run_as_long_as_its_generations(tmp_path: Path, fixed: str,
                                                            stage: str, says: str) -> None:
    path = tmp_path / "pbt.toml"
    text = STUDY.format(objective="mlp", pbt='mutable = ["lr"]', stage=stage, top="")
    path.write_text(text.replace("[[stages]]", f"[fixed]\n{fixed}\n\n[[stages]]"))
    with pytest.raises(SpecError, match=re.escape(says)):
        load_spec(path)


def test_softmax_members_cannot_use_its_stop_rule_and_length_is_not_searched(
        tmp_path: Path) -> None:
    path = tmp_path / "pbt.toml"
    text = STUDY.format(objective="softmax", pbt='mutable = ["lr"]', stage="", top="")
    text = text.replace("weight_decay", "lambda").replace("batch_size = { choices = [16, 32] }",
                                                          "")
    path.write_text(text.replace("[[stages]]", "[fixed]\nstop_threshold = 1e-4\n"
                                 "stop_patience = 5\n\n[[stages]]"))
    with pytest.raises(SpecError, match="stop rule .* would end members"):
        load_spec(path)
    path.write_text(text.replace("[stages.space]",
                                 "[stages.space]\nepochs = { low = 4, high = 9 }"))
    with pytest.raises(SpecError, match="space.epochs: is the run's length"):
        load_spec(path)


def test_no_stage_refines_from_a_pbt_stage(tmp_path: Path) -> None:
    path = tmp_path / "pbt.toml"
    path.write_text(STUDY.format(objective="mlp", pbt='mutable = ["lr"]', stage="", top="")
                    + '\n[[stages]]\nname = "fine"\ntrials = 4\n'
                      'refine = { from = "pbt", params = ["lr"] }\n')
    with pytest.raises(SpecError, match="refine.from: 'pbt' is a PBT stage"):
        load_spec(path)

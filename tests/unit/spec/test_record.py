"""The study's spec stored as data with its trials: a round trip loses nothing, a worker with only
the study's name runs the stored spec, and a worker whose own file differs stops with one line
before any trial."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from toy_studies import write_multi_objective

import tuner
from tuner.spec import builtin_names
from tuner.spec.record import first_difference, from_record, to_record


@pytest.mark.parametrize("name", builtin_names())
def test_every_built_in_study_survives_the_round_trip(name: str) -> None:
    spec = tuner.load_study_spec(name, trials=4, seed=9, dataset="digits")
    again = from_record(to_record(spec))
    assert again.path == spec.path.resolve() and again.objective.name == spec.objective.name
    assert dataclasses.replace(again, objective=spec.objective, path=spec.path) == spec
    assert to_record(again) == to_record(spec)


def test_a_multi_objective_spec_with_a_pick_rule_survives_the_round_trip(tmp_path: Path) -> None:
    spec = tuner.load_study_spec(write_multi_objective(tmp_path), overrides={"epochs": 4},
                                 dataset="wine.csv")
    again = from_record(to_record(spec))
    assert again.final == spec.final and again.stages == spec.stages
    assert (again.metrics, again.overrides, again.dataset) == (spec.metrics, {"epochs": 4},
                                                               "wine.csv")
    assert first_difference(to_record(again), to_record(spec)) is None


def test_first_difference_names_the_key() -> None:
    spec = tuner.load_study_spec("lambda_search")
    mine, stored = to_record(spec), to_record(spec)
    mine["stages"][1]["trials"] = 30
    assert first_difference(mine, stored) == "stages.fine.trials: 30 here, 16 stored"
    mine = to_record(tuner.load_study_spec("lambda_search", overrides={"cycles": 1}))
    assert first_difference(mine, stored).startswith("fixed.cycles: 1 here, ")
    mine = dict(stored, path="/elsewhere/lambda_search.toml")
    assert first_difference(mine, stored) is None  # the same study from another folder



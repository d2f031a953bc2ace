"""Search spaces -> Optuna distributions and suggestions, conditional params included."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from tuner.search.samplers import grid_values
from tuner.search.space import distributions, is_active, suggest
from tuner.spec import ParamSpace

SPACE = (
    ParamSpace("lr", "float", low=1e-4, high=1e-1, log=True),
    ParamSpace("batch", "int", low=16, high=256, step=16),
    ParamSpace("optimizer", "categorical", choices=("sgd", "momentum", "adam")),
    ParamSpace("momentum", "float", low=0.5, high=0.99, when=(("optimizer", ("momentum",)),)),
)


def test_distributions_are_pure_translation() -> None:
    d = distributions(SPACE)
    assert d["lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert d["batch"] == IntDistribution(16, 256, step=16)
    assert d["optimizer"] == CategoricalDistribution(["sgd", "momentum", "adam"])
    assert d["momentum"] == FloatDistribution(0.5, 0.99)


def test_conditional_param_sampled_only_when_active() -> None:
    fixed = optuna.trial.FixedTrial({"lr": 0.01, "batch": 32, "optimizer": "sgd"})
    assert suggest(fixed, SPACE) == {"lr": 0.01, "batch": 32, "optimizer": "sgd"}
    fixed = optuna.trial.FixedTrial({"lr": 0.01, "batch": 32, "optimizer": "momentum",
                                     "momentum": 0.9})
    assert suggest(fixed, SPACE)["momentum"] == 0.9
    assert not is_active(SPACE[3], {"optimizer": "adam"})


def test_suggestions_stay_in_bounds_and_match_distributions() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        values = suggest(trial, SPACE)
        assert 1e-4 <= values["lr"] <= 1e-1 and values["batch"] % 16 == 0
        assert ("momentum" in values) == (values["optimizer"] == "momentum")
        for name, dist in trial.distributions.items():
            assert dist == distributions(SPACE)[name]
        seen.add(values["optimizer"])
        study.tell(trial, 0.0)
    assert seen == {"sgd", "momentum", "adam"}


def test_grid_values() -> None:
    assert grid_values(ParamSpace("b", "int", low=16, high=64, step=16)) == [16, 32, 48, 64]
    assert grid_values(ParamSpace("o", "categorical", choices=("a", "b"))) == ["a", "b"]
    with pytest.raises(ValueError, match="needs `choices` or `step` for param 'lr'"):
        grid_values(SPACE[0])

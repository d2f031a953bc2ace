"""A fit stopped at a reporting step (Checkpoint.stop_after, Population Based Training's interval)
saves its state there and returns; a later fit continues from it bit for bit, taking up new
values of the objective's mutable params (objectives.checkpoint, base.Objective.mutable)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from objectives import registry
from objectives.base import Split
from objectives.checkpoint import TORCH, Checkpoint

SHAPE = (1, 8, 8)
NEVER_DUE = 3600.0
"""min_interval for checkpoints whose due() stays False: any save is one stop_after forced."""

CONFIGS: dict[str, Mapping[str, Any]] = {
    "softmax": {"optimizer": "adam", "epochs": 5, "batch_size": 50, "lr": 0.01,
                "schedule": "step", "decay_every": 2, "threads": 1},
    "two_layer": {"hidden": 20, "cycles": 2, "n_s": 40, "points_per_cycle": 3, "threads": 1},
    "mlp": {"epochs": 4, "batch_size": 64, "lr": 0.05, "widths": [32, 16, 16],
            "milestones": [3], "threads": 1},
}


@pytest.fixture(scope="module")
def digits() -> tuple[Split, Split]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = ((X - 8.0) / 8.0).astype(np.float32)
    y = y.astype(np.int64)
    return Split(X[:1200], y[:1200]), Split(X[1200:], y[1200:])


def _fit(name: str, config: Mapping[str, Any], data: tuple[Split, Split],
         checkpoint: Checkpoint | None = None, steps: list[int] | None = None) -> Any:
    """Fit objective `name` (seed 3); the steps it reports are appended to `steps`."""
    def report(step: int, metrics: Mapping[str, float]) -> None:
        if steps is not None:
            steps.append(step)

    objective: Any = registry.get(name)
    return objective.fit(config, *data, report, 3, SHAPE, checkpoint=checkpoint)


def _weights(model: Any) -> list[np.ndarray]:
    if hasattr(model, "module"):
        return [v.detach().cpu().numpy() for v in model.module.state_dict().values()]
    return [np.array(model.flat_params)]


def _norm(model: Any) -> float:
    return float(np.sqrt(sum(np.sum(w.astype(np.float64) ** 2) for w in _weights(model))))


def _curve(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_fit_stopped_after_k_continues_bit_for_bit(name: str, tmp_path: Path,
                                                     digits: tuple[Split, Split]) -> None:
    full = _fit(name, CONFIGS[name], digits)
    total = len(full.history)
    k = total // 2
    assert k >= 1
    stopped = Checkpoint(tmp_path, NEVER_DUE, stop_after=k)
    first = _fit(name, CONFIGS[name], digits, stopped)
    assert _curve(first.history) == _curve(full.history[:k])
    assert stopped.saves == 1 and stopped.files()  # saved at k although never due()
    steps: list[int] = []
    rest = _fit(name, CONFIGS[name], digits, Checkpoint(tmp_path), steps)
    assert steps == list(range(k + 1, total + 1))
    assert _curve(rest.history) == _curve(full.history)
    for a, b in zip(_weights(rest.model), _weights(full.model), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_stop_after_the_last_step_still_saves(name: str, tmp_path: Path,
                                              digits: tuple[Split, Split]) -> None:
    full = _fit(name, CONFIGS[name], digits)
    total = len(full.history)
    stopped = Checkpoint(tmp_path, NEVER_DUE, stop_after=total)
    assert _curve(_fit(name, CONFIGS[name], digits, stopped).history) == _curve(full.history)
    assert stopped.saves == 1
    steps: list[int] = []
    again = _fit(name, CONFIGS[name], digits, Checkpoint(tmp_path), steps)
    assert steps == []  # the state is the finished run: nothing left to train
    assert _curve(again.history) == _curve(full.history)
    for a, b in zip(_weights(again.model), _weights(full.model), strict=True):
        np.testing.assert_array_equal(a, b)


def test_stop_after_beyond_the_last_step_ends_the_run_as_before(
        tmp_path: Path, digits: tuple[Split, Split]) -> None:
    full = _fit("softmax", CONFIGS["softmax"], digits)
    beyond = Checkpoint(tmp_path, NEVER_DUE, stop_after=len(full.history) + 1)
    run = _fit("softmax", CONFIGS["softmax"], digits, beyond)
    assert _curve(run.history) == _curve(full.history)
    assert beyond.saves == 0


PENALTIES = {"softmax": ("lambda", 0.5), "two_layer": ("lambda", 0.5),
             "mlp": ("weight_decay", 0.05)}


@pytest.mark.parametrize("name", list(PENALTIES))
def test_a_continued_fit_takes_up_a_new_penalty(name: str, tmp_path: Path,
                                                digits: tuple[Split, Split]) -> None:
    """Continued with the old value, the fit ends bit for bit as the uninterrupted run (the
    test above); with a much larger L2 penalty it must end with smaller weights."""
    key, value = PENALTIES[name]
    full = _fit(name, CONFIGS[name], digits)
    k = len(full.history) // 2
    _fit(name, CONFIGS[name], digits, Checkpoint(tmp_path, stop_after=k))
    penalised = _fit(name, {**CONFIGS[name], key: value}, digits, Checkpoint(tmp_path))
    assert _curve(penalised.history[:k]) == _curve(full.history[:k])
    assert _norm(penalised.model) < 0.95 * _norm(full.model)


SCHEDULES = {"softmax": ("lr", 0.03), "two_layer": ("eta_max", 0.03), "mlp": ("lr", 0.01)}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_a_continued_fit_takes_up_a_new_schedule(name: str, tmp_path: Path,
                                                 digits: tuple[Split, Split]) -> None:
    """After the stop the reported lr is the new config's, as in a run that had it from the
    start; before it, the old one's."""
    key, value = SCHEDULES[name]
    changed = {**CONFIGS[name], key: value}
    old, new = _fit(name, CONFIGS[name], digits), _fit(name, changed, digits)
    k = len(old.history) // 2
    _fit(name, CONFIGS[name], digits, Checkpoint(tmp_path, stop_after=k))
    continued = _fit(name, changed, digits, Checkpoint(tmp_path))
    lrs = [row["lr"] for row in continued.history]
    assert lrs[:k] == [row["lr"] for row in old.history[:k]]
    assert lrs[k:] == [row["lr"] for row in new.history[k:]]
    assert lrs[k:] != [row["lr"] for row in old.history[k:]]


@pytest.mark.parametrize(("optimizer", "changes"), [
    ("sgd", {"momentum": 0.5, "weight_decay": 1e-3}),
    ("adam", {"beta1": 0.8, "beta2": 0.99, "weight_decay": 1e-3}),
])
def test_a_continued_torch_fit_steps_with_the_optimizer_settings_of_its_config(
        optimizer: str, changes: dict[str, float], tmp_path: Path,
        digits: tuple[Split, Split]) -> None:
    """torch's load_state_dict would put the saved settings back into the param groups; the
    state saved after the continued fit's last step shows those it stepped with."""
    config = {**CONFIGS["mlp"], "optimizer": optimizer, "lr": 0.01}
    _fit("mlp", config, digits, Checkpoint(tmp_path, stop_after=2))
    _fit("mlp", {**config, **changes}, digits, Checkpoint(tmp_path, stop_after=4))
    saved = torch.load(tmp_path / TORCH, weights_only=True)
    assert len(saved["history"]) == 4
    (group,) = saved["optimizer"]["param_groups"]
    assert group["weight_decay"] == changes["weight_decay"]
    if optimizer == "sgd":
        assert group["momentum"] == changes["momentum"]
    else:
        assert tuple(group["betas"]) == (changes["beta1"], changes["beta2"])


@pytest.mark.parametrize("name", registry.names())
def test_mutable_params_are_declared_params(name: str) -> None:
    objective = registry.get(name)
    assert objective.mutable and objective.mutable <= objective.params.keys()
    assert ("dropout" in objective.mutable) == ("dropout" in objective.params)


def test_the_adapters_have_no_mutable_params() -> None:
    from objectives.adapters.estimator import EstimatorObjective
    from objectives.adapters.function import FunctionObjective

    assert EstimatorObjective.mutable == FunctionObjective.mutable == frozenset()


def test_checkpoint_ends_at_stop_after_and_beyond(tmp_path: Path) -> None:
    assert not any(Checkpoint(tmp_path).ends_at(step) for step in range(5))
    assert [s for s in range(5) if Checkpoint(tmp_path, stop_after=3).ends_at(s)] == [3, 4]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_fit_loaded_at_its_stop_returns_untrained(name: str, tmp_path: Path,
                                                     digits: tuple[Split, Split]) -> None:
    """A PBT member killed after its generation's save but before its end was told runs again
    from that save: with the same stop_after it must not train on to the run's end."""
    k = len(_fit(name, CONFIGS[name], digits).history) // 2
    first = _fit(name, CONFIGS[name], digits, Checkpoint(tmp_path, NEVER_DUE, stop_after=k))
    steps: list[int] = []
    again = _fit(name, CONFIGS[name], digits, Checkpoint(tmp_path, NEVER_DUE, stop_after=k),
                 steps)
    assert steps == [] and _curve(again.history) == _curve(first.history)
    for a, b in zip(_weights(again.model), _weights(first.model), strict=True):
        np.testing.assert_array_equal(a, b)

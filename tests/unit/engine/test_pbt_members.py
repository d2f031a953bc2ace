"""Which trial stands for a PBT member in a generation (engine/pbt.members), and dead trials:
a retry's copied `beating` mark does not hide a retry that never started beating
(engine/slots.fail_orphans)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from tuner.engine import slots
from tuner.engine.pbt import CRASH_LIMIT, is_duplicate, members


def _trial(number: int, member: int, state: TrialState, reason: str | None = None,
           generation: int = 1) -> FrozenTrial:
    attrs: dict[str, Any] = {"member": member, "generation": generation}
    if reason is not None:
        attrs["reason"] = reason
    t = create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None,
                     params={"lr": 0.1}, distributions={"lr": FloatDistribution(0.01, 1.0)},
                     user_attrs=attrs)
    t.number = number
    return t


def test_a_member_is_its_first_live_trial_and_reruns_until_it_fails_for_good() -> None:
    trials = [_trial(0, 0, TrialState.FAIL), _trial(1, 0, TrialState.COMPLETE),
              _trial(2, 0, TrialState.WAITING),  # a duplicate: the first live one counts
              _trial(3, 1, TrialState.FAIL, "interrupted"),  # runs again: missing
              _trial(4, 2, TrialState.FAIL, "ValueError: bad"),  # failed for good
              _trial(5, 3, TrialState.COMPLETE, generation=0)]
    found = members(trials, 1)
    assert {m: t.number for m, t in found.items()} == {0: 1, 2: 4}
    assert is_duplicate(trials, trials[2]) and not is_duplicate(trials, trials[1])


def test_a_member_that_keeps_killing_its_worker_fails_for_good() -> None:
    dead = [_trial(n, 0, TrialState.FAIL) for n in range(CRASH_LIMIT - 1)]
    assert members(dead, 1) == {}  # re-queued: its worker may just have been unlucky
    dead.append(_trial(CRASH_LIMIT - 1, 0, TrialState.FAIL))
    assert members(dead, 1)[0].number == CRASH_LIMIT - 1


def test_a_retry_that_never_beat_is_failed_despite_its_copied_mark(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}",
                                         heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(storage=storage)
    study.enqueue_trial({}, user_attrs={"beating": 7})  # a retry's copy of trial 7's attrs
    study.enqueue_trial({}, user_attrs={})
    copy, fresh = study.ask(), study.ask()
    slots.first_beat(storage, fresh)  # this one beats (its own mark)

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return datetime.today() + timedelta(hours=1)

    monkeypatch.setattr(slots, "datetime", Later)
    slots.fail_orphans(storage, study)
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {copy.number: TrialState.FAIL, fresh.number: TrialState.RUNNING}

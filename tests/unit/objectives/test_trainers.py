"""The machine-wide registry of running trainers (objectives/trainers.py) and the fair share of
the cores it gives each fit: other processes hold entries (each started and confirmed ready
before counting, killed and reaped before recounting), so nothing depends on timing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from paths import ROOT

from objectives import threads, trainers

HOLDER = """
import sys
from objectives import trainers
with trainers.Entry():
    print("ready", flush=True)
    sys.stdin.read()
"""


class Holders:
    """Processes that each hold a trainer entry until told to stop (or killed)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, n: int = 1) -> None:
        for _ in range(n):
            proc = subprocess.Popen([sys.executable, "-c", HOLDER], cwd=ROOT, text=True,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
            self.procs.append(proc)

    def kill(self, index: int) -> None:
        self.procs[index].kill()
        self.procs[index].wait()  # reaped: the kernel has dropped its lock

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.communicate("")


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "trainers"
    monkeypatch.setenv(trainers.TRAINERS_ENV, str(folder))
    for var in (threads.THREADS_ENV, "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(threads, "cores", lambda: 6)
    yield folder
    threads.set_budget(None)


@pytest.fixture
def holders() -> Iterator[Holders]:
    started = Holders()
    yield started
    started.stop()


def test_alone_a_fit_takes_every_core(registry: Path) -> None:
    assert trainers.live() == 1  # an empty (even missing) folder: the caller alone
    with trainers.Entry():
        assert trainers.live() == 1
        assert trainers.fair_share(6) == 6
    assert list(registry.iterdir()) == []  # the entry is gone with the fit


@pytest.mark.parametrize(("others", "share"), [(1, 3), (2, 2), (5, 1), (7, 1)])
def test_the_share_divides_the_cores_among_live_trainers(
        registry: Path, holders: Holders, others: int, share: int) -> None:
    holders.start(others)
    with trainers.Entry():
        assert trainers.live() == others + 1
        assert trainers.fair_share(6) == share


def test_a_killed_trainers_entry_is_stale_and_removed(registry: Path, holders: Holders) -> None:
    holders.start(2)
    (registry / "12345-1").write_text("")  # an entry nobody holds: a crash long ago
    assert trainers.live() == 2
    assert not (registry / "12345-1").exists()
    holders.kill(0)  # SIGKILL: no cleanup ran, the file is still there
    assert len(list(registry.iterdir())) == 2
    assert trainers.live() == 1
    assert len(list(registry.iterdir())) == 1


def test_a_fit_gives_threads_back_when_another_starts(registry: Path, holders: Holders) -> None:
    with threads.limited(0) as pool:
        assert pool.count == 6
        holders.start(1)
        seen: list[int] = []
        pool.reporting(lambda step, metrics: seen.append(pool.count))(1, {})
        assert seen == [3]  # rebalanced before the report
        holders.stop()
        holders.procs.clear()
        assert pool.rebalance() == 6


def test_a_budget_the_user_set_wins(registry: Path, holders: Holders,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    holders.start(2)
    with threads.limited(0) as pool:
        assert pool.count == 2  # the fair share: 6 // 3
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    with threads.limited(0) as pool:
        assert pool.count == 5 and pool.rebalance() == 5
    with threads.limited(4) as pool:  # a config's own threads
        assert pool.count == 4 and pool.rebalance() == 4


def test_a_training_loop_tick_rebalances_between_reports(registry: Path,
                                                         holders: Holders) -> None:
    with threads.limited(0) as pool:
        holders.start(2)
        pool.checked -= threads.TICK_SECONDS  # the last look is old enough
        pool.tick()
        assert pool.count == 2

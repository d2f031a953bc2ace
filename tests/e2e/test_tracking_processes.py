"""Tracking with several processes: two workers under one parent run, and `tuner ui` on a busy
port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient
from paths import ROOT

from tuner.cli import main
from tuner.errors import TrackingError
from tuner.tracking import (
    serve_ui,
)


def _children(uri: str, parent: str) -> list[Any]:
    client = MlflowClient(uri)
    exp = client.get_run(parent).info.experiment_id
    return client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{parent}'")


def _artifacts(uri: str, run_id: str, path: str | None = None) -> set[str]:
    return {Path(f.path).name for f in MlflowClient(uri).list_artifacts(run_id, path)}


TOY_STUDY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"
metric = "val_accuracy"
seed = 1

[fixed]
epochs = 4
sleep = 0.05
diverge_above = 8.0

[[stages]]
name = "coarse"
sampler = "random"
pruner = { type = "median", n_startup_trials = 2 }
trials = 8
[stages.space]
x = { low = -10.0, high = 10.0 }
y = { low = 0, high = 10 }

[final]
monitor = 50
"""


def test_two_worker_processes_record_children_under_one_parent(
    tmp_path: Path, storage_url: str, tracking_uri: str
) -> None:
    (tmp_path / "toy.toml").write_text(TOY_STUDY)
    done = subprocess.run(
        [sys.executable, "-m", "tuner", "-q", "study", str(tmp_path / "toy.toml"), "--jobs", "2",
         "--storage", storage_url, "--tracking-uri", tracking_uri],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="toy/coarse", storage=storage_url)
    ran = {t.user_attrs["mlflow_run_id"]: t for t in study.trials
           if "mlflow_run_id" in t.user_attrs}
    parent = study.user_attrs["mlflow_parent_run_id"]
    children = {r.info.run_id: r for r in _children(tracking_uri, parent)}
    assert set(children) == set(ran) and len(ran) >= 8
    assert len({r.data.tags["worker"] for r in children.values()}) == 2
    client = MlflowClient(tracking_uri)
    for run_id, trial in ran.items():
        tags = children[run_id].data.tags
        assert tags["state"] == trial.state.name
        assert tags["trial_number"] == str(trial.number)
        steps = client.get_metric_history(run_id, "val_accuracy")
        assert len(steps) == trial.user_attrs["steps"]
        if trial.state.name == "PRUNED":
            assert tags["pruned_at"] == str(trial.user_attrs["pruned_at"])
    assert {"plots", "trials.csv"} <= _artifacts(tracking_uri, parent)
    exp_id = client.get_run(parent).info.experiment_id
    stage_runs = client.search_runs([exp_id], filter_string="tags.`tuner.role` = 'stage'")
    assert [r.info.run_id for r in stage_runs] == [parent]  # one parent, whoever created it

    assert main(["-q", "final", str(tmp_path / "toy.toml"), "--storage", storage_url,
                 "--tracking-uri", tracking_uri]) == 0
    final = client.search_runs([exp_id], filter_string="tags.`tuner.role` = 'final'")
    assert len(final) == 1 and "test_accuracy" in final[0].data.metrics
    assert {"confusion_matrix.png", "weights.npz"} <= _artifacts(tracking_uri,
                                                                 final[0].info.run_id)


def test_ui_refuses_a_busy_port(tracking_uri: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(TrackingError, match=f"Port {port} on 127.0.0.1 is in use"):
            serve_ui(tracking_uri, host="127.0.0.1", port=port)


def test_ui_prints_its_link_once_the_server_answers(tracking_uri: str, tmp_path: Path) -> None:
    """The link line comes only when MLflow's server answers (it printed the link about a
    minute before the server did on a loaded machine): the moment it is read, /health works."""
    import urllib.request

    from ports import free_port

    from tuner.tracking.store import MlflowStore

    MlflowStore(tracking_uri).client.search_experiments()  # the store exists
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tuner", "ui", "--port", str(port), "--tracking-uri",
         tracking_uri], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    try:
        assert server.stdout is not None
        seen = []  # MLflow's server writes its own lines to the same stdout
        while not (line := server.stdout.readline()).startswith("MLflow UI for"):
            assert line, f"tuner ui ended without its link line: {seen}"
            seen.append(line)
        assert line.startswith("MLflow UI for sqlite:///") and f"127.0.0.1:{port}" in line
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/health", timeout=10) as reply:
            assert reply.status == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)

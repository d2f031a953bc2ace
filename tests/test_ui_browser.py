"""`tuner ui` serves the MLflow UI on 127.0.0.1; headless Chromium shows the study's experiment."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuner.tracking import MlflowTracker

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
STUDY = "browser_study_ui"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body


@pytest.fixture
def ui_url(tmp_path: Path, tracking_uri: str) -> Iterator[str]:
    """A recorded study and `tuner ui` serving its store on a free port."""
    tracker = MlflowTracker(tracking_uri)
    parent = tracker.stage_run(STUDY, "coarse", {"objective": "softmax"})
    trial = tracker.start_trial(parent, STUDY, "coarse", 0, {"lr": 0.1})
    trial.log_epoch(1, {"val_accuracy": 0.5})
    trial.finish("COMPLETE", 0.5, {}, [], {})
    tracker.flush()
    port = _free_port()
    log = (tmp_path / "ui.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "tuner", "ui", "--port", str(port), "--tracking-uri", tracking_uri],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(f"{url}/health")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"tuner ui did not start: {(tmp_path / 'ui.log').read_text()}")
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def _chromium(tmp_path: Path, *args: str) -> str:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--no-first-run",
           f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=12000", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    return done.stdout


def test_ui_shows_the_study_experiment(ui_url: str, tmp_path: Path) -> None:
    assert "MLflow UI for sqlite:///" in (tmp_path / "ui.log").read_text()
    found = json.loads(_get(f"{ui_url}/api/2.0/mlflow/experiments/search?max_results=100"))
    assert STUDY in [e["name"] for e in found["experiments"]]

    dom = _chromium(tmp_path, "--dump-dom", f"{ui_url}/#/experiments")
    assert STUDY in dom

    shot = tmp_path / "mlflow_ui.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,900",
              f"{ui_url}/#/experiments")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""`tuner ui` serves the MLflow UI on 127.0.0.1; headless Chromium shows the study's experiment."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from paths import ROOT
from ports import free_port

from tuner.tracking import MlflowTracker

CHROMIUM = Path("/usr/bin/chromium")
STUDY = "browser_study_ui"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium"),
]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body


def _post(url: str, payload: dict) -> bytes:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body: bytes = response.read()
        return body


@pytest.fixture
def ui_url(tmp_path: Path, tracking_uri: str) -> Iterator[str]:
    """A recorded study and `tuner ui` serving its store on a free port."""
    tracker = MlflowTracker(tracking_uri)
    parent = tracker.stage_run(STUDY, "coarse", {"objective": "softmax"})
    for number, state in ((0, "COMPLETE"), (1, "PRUNED")):
        trial = tracker.start_trial(parent, STUDY, "coarse", number, {"lr": 0.1})
        trial.log_epoch(1, {"val_accuracy": 0.5})
        trial.finish(state, 0.5 if state == "COMPLETE" else None,
                     {"pruned_at": 1 if state == "PRUNED" else None}, [], {})
    tracker.flush()
    port = free_port()
    log = (tmp_path / "ui.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "tuner", "ui", "--port", str(port), "--tracking-uri", tracking_uri],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while "MLflow UI for" not in (tmp_path / "ui.log").read_text():  # printed once it
            if server.poll() is not None or time.monotonic() > deadline:  # answers
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


class Page:
    """One headless Chromium tab driven over the DevTools protocol (no driver binary needed)."""

    def __init__(self, tmp_path: Path) -> None:
        import websocket

        profile = tmp_path / "cdp-profile"
        self.proc = subprocess.Popen(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "--window-size=1400,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert time.monotonic() < deadline and self.proc.poll() is None, "no DevTools port"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = json.loads(_get(f"http://127.0.0.1:{port}/json"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        self.calls = 0

    def call(self, method: str, **params: object) -> dict:
        self.calls += 1
        self.ws.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.calls:
                return dict(reply.get("result", {}))

    def run(self, script: str) -> object:
        return self.call("Runtime.evaluate", expression=script,
                         returnByValue=True)["result"].get("value")

    def wait_for_text(self, *texts: str, timeout: float = 90) -> str:
        """The page's text once it holds every one of `texts` (polled, not a fixed wait)."""
        deadline = time.monotonic() + timeout
        while True:
            body = str(self.run("document.body ? document.body.innerText : ''") or "")
            if all(t in body for t in texts):
                return body
            if time.monotonic() > deadline:
                pytest.fail(f"the page never showed {texts}; it shows: {body[:500]!r}")
            time.sleep(0.5)

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def test_tuner_ui_links_open_the_runs_table_with_pruned_trials_apart(
    ui_url: str, tmp_path: Path
) -> None:
    """MLflow 3.17 opens an experiment on its GenAI overview unless asked for the model
    training view: the link `tuner ui` prints asks for it, so the study opens on its runs
    table, where the pruned trial's name and status tell it from the complete one."""
    log = (tmp_path / "ui.log").read_text()
    link = next(line.split(": ", 1)[1] for line in log.splitlines()
                if line.startswith(f"  {STUDY}: "))
    assert link.startswith(f"{ui_url}/#/experiments/") and "workflowType=machine_learning" in link
    found = json.loads(_get(f"{ui_url}/api/2.0/mlflow/experiments/get-by-name"
                            f"?experiment_name={STUDY}"))
    tags = {t["key"]: t["value"] for t in found["experiment"].get("tags", [])}
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    page = Page(tmp_path)
    try:
        page.call("Page.enable")
        page.call("Page.navigate", url=link)
        body = page.wait_for_text("Run Name", "coarse")
        assert "Detect Issues" not in body  # not the GenAI overview
        page.run("document.querySelectorAll('button[data-component-id*=\"runnamecellrenderer\"]')"
                 ".forEach(b => b.click())")  # expand the stage run: its trials are children
        body = page.wait_for_text("trial 0", "trial 1 (pruned)")
        shot = page.call("Page.captureScreenshot", format="png")["data"]
        (tmp_path / "runs.png").write_bytes(base64.b64decode(shot))
    finally:
        page.close()
    runs = json.loads(_post(f"{ui_url}/api/2.0/mlflow/runs/search",
                            {"experiment_ids": [found["experiment"]["experiment_id"]]}))
    status = {r["info"]["run_name"]: r["info"]["status"] for r in runs["runs"]}
    assert status["trial 1 (pruned)"] == "KILLED" and status["trial 0"] == "FINISHED"

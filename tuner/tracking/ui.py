"""`tuner ui`: the MLflow UI on the tracking store, bound to 127.0.0.1 unless told otherwise.

MLflow 3.17's UI opens an experiment on its GenAI pages (traces, "Detect Issues") unless the
browser chose "Model training" in its sidebar or the link carries ?workflowType=machine_learning:
the links printed for each study carry it, so they open on the runs table.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

from tuner.errors import TrackingError
from tuner.storage import mask
from tuner.tracking.keys import (
    ARTIFACTS_DIR,
    check_scheme,
    local_store,
    require_store,
    resolve_uri,
)

log = logging.getLogger(__name__)


def _bind_problem(host: str, port: int) -> str | None:
    """Why the UI cannot listen on host:port (None: it can)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, port))
    except socket.gaierror:
        return f"--host {host} is not a host name or address this machine knows"
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return f"Port {port} on {host} is in use; pick another with --port"
        return f"Cannot listen on {host}:{port} ({exc.strerror}); pass a --host of this machine"
    return None


WORKFLOW = "workflowType=machine_learning"


def study_links(uri: str, base: str) -> list[tuple[str, str]]:
    """(study, link to its runs table) for every study experiment in the store."""
    from tuner.tracking.store import MlflowStore

    try:
        experiments = MlflowStore(uri).client.search_experiments(
            filter_string="tags.`tuner.study` != ''", max_results=100)
    except Exception:  # noqa: BLE001 - links are a convenience; the UI starts regardless
        return []
    return [(e.name, f"{base}/#/experiments/{e.experiment_id}?{WORKFLOW}")
            for e in sorted(experiments, key=lambda e: e.name)]


def serve_ui(tracking_uri: str | None = None, host: str = "127.0.0.1", port: int = 5000) -> int:
    """Serve the MLflow UI for the store until Ctrl+C (or SIGTERM); returns the exit code."""
    uri = check_scheme(resolve_uri(tracking_uri))
    if uri.startswith(("http://", "https://")):
        print(f"The tracking server already serves the UI: open {mask(uri)}")
        return 0
    if not 0 < port < 65536:
        raise TrackingError(f"--port must be in [1, 65535]. Got {port} instead.")
    problem = _bind_problem(host, port)
    if problem is not None:
        raise TrackingError(f"{problem}.")
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
           "--host", host, "--port", str(port), "--workers", "1"]
    db = require_store(uri, f"No MLflow store file {local_store(uri)} (tracking URI "
                       f"'{mask(uri)}'); expected an existing store: the --tracking-uri (or "
                       "$MLFLOW_TRACKING_URI) a study ran with.")
    if db is not None:
        cmd += ["--artifacts-destination", str(db.resolve().parent / ARTIFACTS_DIR)]
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("Serving the MLflow UI on %s: anyone who can reach it sees every run.",
                    host)
    base = f"http://{host}:{port}"
    log.info("starting the MLflow UI on %s ...", base)
    server = subprocess.Popen(cmd, env={"MLFLOW_DISABLE_TELEMETRY": "true", **os.environ})
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if _answers(server, "127.0.0.1" if host in ("0.0.0.0", "::") else host, port):
            lines = [f"MLflow UI for {mask(uri)} at {base}  (Ctrl+C to stop)",
                     *(f"  {name}: {link}" for name, link in study_links(uri, base))]
            print("\n".join(lines), flush=True)  # one write: the links come with the line
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        try:
            server.wait(timeout=10)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):  # Ctrl-C again: stop it now
            server.kill()
            server.wait()
        return 0


def _answers(server: subprocess.Popen[bytes], host: str, port: int) -> bool:
    """Wait until the server answers on /health (True) or exits (False: its error is above).
    The link is printed only then: MLflow's server takes up to a minute to start on a busy
    machine, and a link printed at once would be dead until it does."""
    url = f"http://[{host}]:{port}/health" if ":" in host else f"http://{host}:{port}/health"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy: this host
    while server.poll() is None:
        try:
            with opener.open(url, timeout=2) as reply:
                if reply.status == 200:
                    return True
        except OSError:  # not listening yet (refused, reset, timed out)
            pass
        time.sleep(0.25)
    return False


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM stops the UI like Ctrl+C, so the MLflow server is not left running."""
    raise KeyboardInterrupt

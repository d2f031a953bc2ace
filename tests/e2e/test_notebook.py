"""A notebook's matplotlib state (backend, style, open figures) survives a tracked study run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from paths import ROOT

STUDY = """
objective = "tests.toy_objective:TOY"
dataset = "digits"

[fixed]
epochs = 2

[[stages]]
name = "coarse"
sampler = "random"
trials = 4
[stages.space]
x = { low = -10.0, high = 10.0 }
lr = { low = 1e-4, high = 1.0, log = true }
"""


NOTEBOOK = """
import json, sys
import matplotlib
matplotlib.use("svg")  # what a notebook's inline backend would be: anything but Agg
import matplotlib.pyplot as plt
plt.style.use("dark_background")  # the user's own style
plt.figure()
plt.figure()

def state():
    return [matplotlib.get_backend(), plt.get_fignums(), plt.rcParams["axes.facecolor"]]

before = state()
import tuner
result = tuner.run_study(sys.argv[1], storage=sys.argv[2], tracking_uri=sys.argv[3],
                         progress=False)
print(json.dumps({"before": before, "after": state(),
                  "complete": result.stages["coarse"].complete}))
"""


def test_a_study_run_leaves_a_notebooks_backend_style_and_figures_alone(tmp_path: Path) -> None:
    """A notebook-like session (its own backend and style, two open figures) imports tuner and
    runs a tracked study, whose stage draws its study plots: the backend, the open figures and
    the style are what they were, and no Optuna heartbeat warning reaches stderr."""
    study = tmp_path / "nb.toml"
    study.write_text(STUDY)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("MPLBACKEND", None)
    done = subprocess.run(
        [sys.executable, "-c", NOTEBOOK, str(study), f"sqlite:///{tmp_path / 'tuner.db'}",
         f"sqlite:///{tmp_path / 'mlflow.db'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] == ["svg", [1, 2], "black"]
    assert seen["after"] == seen["before"]
    assert seen["complete"] == 4
    drawn = {p.name for p in tmp_path.rglob("plots/*.png")}
    assert {"optimization_history.png", "contour.png", "slice.png"} <= drawn
    assert "Heartbeat of storage" not in done.stderr

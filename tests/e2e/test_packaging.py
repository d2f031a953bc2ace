"""The package as users get it: the wheel ships the built-in studies and an installed copy finds
them; every benchmark still imports."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from paths import ROOT


def test_wheel_holds_the_studies_and_an_installed_copy_finds_them(tmp_path: Path) -> None:
    """`pip wheel --no-deps .` packs the top-level studies/*.toml as tuner/studies/*.toml (the
    two kept in step); installed outside the checkout, the built-in studies load from the
    installed package."""
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    if build.returncode != 0:
        pytest.fail(f"pip wheel failed: {build.stderr[-2000:]}")
    (wheel,) = wheels.glob("tuner-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n for n in names if n.startswith("tuner/studies/") and n.endswith(".toml"))
    assert shipped == sorted(f"tuner/studies/{p.name}"
                             for p in (ROOT / "studies").glob("*.toml"))
    assert len(shipped) >= 7
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = ("import tuner; spec = tuner.load_study_spec('lambda_search'); "
             "print(tuner.__file__); print(spec.path); print(len(spec.stages))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    module, study, stages = done.stdout.split()
    assert Path(module).is_relative_to(site) and Path(study).is_relative_to(site)
    assert Path(study).name == "lambda_search.toml" and int(stages) == 2


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")))
def test_every_benchmark_still_imports(script: str) -> None:
    """`--help` imports everything a benchmark uses: a module moved away breaks this test, not
    the next person who runs the benchmark."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--help"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]

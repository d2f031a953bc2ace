"""Where the tests find the checkout: ROOT is the repository root (pyproject.toml, studies/)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

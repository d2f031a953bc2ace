"""Where study files are found: a path, studies/NAME.toml in the current folder, or one of the
built-in studies: the top-level studies/ folder of a source checkout, shipped inside the wheel as
tuner/studies/ (setup.py maps the one onto the other)."""

from __future__ import annotations

from pathlib import Path

from tuner.errors import SpecError

_PACKAGED = Path(__file__).resolve().parents[1] / "studies"
BUILTIN_STUDIES = _PACKAGED if _PACKAGED.is_dir() else _PACKAGED.parents[1] / "studies"


def builtin_names() -> list[str]:
    """The names of the studies that ship with tuner."""
    return sorted(p.stem for p in BUILTIN_STUDIES.glob("*.toml"))


def find_study_file(name: str | Path) -> Path:
    """`name` as a path (a Path, or text ending in .toml or containing a slash), else
    studies/NAME.toml in the current folder, then the built-in study NAME."""
    text = str(name)
    if isinstance(name, Path) or text.endswith(".toml") or "/" in text:
        path = Path(name)
        if not path.is_file():
            raise SpecError(f"Study file {text} does not exist.")
        return path
    for folder in (Path("studies"), BUILTIN_STUDIES):
        if (folder / f"{text}.toml").is_file():
            return folder / f"{text}.toml"
    raise SpecError(f"No study file studies/{text}.toml and no built-in study '{text}'; "
                    f"built-in studies: {', '.join(builtin_names())}.")

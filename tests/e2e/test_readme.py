"""The README as a newcomer runs it, in a fresh folder: the quick start's command (the Makefile's
`run` recipe), the first study (its TOML block written to studies/, its commands run as
written) and the From Python block; docs/python-api.md's first block too. Every printed line
must have the shape of the output block the docs show, and every figure they quote must agree
within tolerance (timings aside): counts within 2 (or 5 %), decimals within 0.01 (or 2 %),
numbers in e-notation within 5 %. A change that moves a quoted result fails here until the
docs are measured again."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT

README = (ROOT / "README.md").read_text()
NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
TIMING = re.compile(rf"{NUMBER} s\b")


def section(text: str, heading: str) -> str:
    """The text of `heading`'s section (up to the next heading of its level)."""
    start = text.index(heading + "\n")
    level = heading.split(" ")[0]
    rest = text[start + len(heading):]
    end = re.search(rf"^{level} ", rest, re.MULTILINE)
    return rest[:end.start()] if end else rest


def fences(text: str, lang: str = "") -> list[str]:
    """Every fenced block of `text` opened with ```lang (lang "": a bare ```)."""
    blocks: list[tuple[str, list[str]]] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("```"):
            if not inside:
                blocks.append((line[3:].strip(), []))
            inside = not inside
        elif inside:
            blocks[-1][1].append(line)
    return ["\n".join(lines) + "\n" for opened, lines in blocks if opened == lang]


def numbers(text: str) -> list[str]:
    return re.findall(NUMBER, text)


def close(got: str, expected: str) -> bool:
    a, b = float(got), float(expected)
    if "e" in expected:
        return abs(a - b) <= 0.05 * abs(b)
    if "." not in expected:
        return abs(a - b) <= max(2.0, 0.05 * abs(b))
    return abs(a - b) <= max(0.01, 0.02 * abs(b))


def assert_like(printed: str, shown: str) -> None:
    """Each line printed has the shape of the line shown, and its figures agree (timings
    masked): what the docs quote is what a user gets."""
    got = [line for line in printed.splitlines() if line.strip()]
    want = [line for line in shown.splitlines() if line.strip()]
    assert len(got) == len(want), f"{len(got)} lines printed, the docs show {len(want)}:\n{printed}"
    for line, doc in zip(got, want, strict=True):
        line, doc = TIMING.sub("T s", line), TIMING.sub("T s", doc)
        shape = re.escape(doc)
        for token in sorted(set(numbers(doc)), key=len, reverse=True):
            shape = shape.replace(re.escape(token), NUMBER)
        assert re.fullmatch(shape, line), f"printed:\n  {line}\nthe docs show:\n  {doc}"
        pairs = list(zip(numbers(line), numbers(doc), strict=True))
        bad = [(g, e) for g, e in pairs if not close(g, e)]
        assert not bad, f"figures differ (printed, docs): {bad}\n  {line}\n  {doc}"


def run(argv: list[str], folder: Path) -> str:
    proc = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def python_command(line: str) -> list[str]:
    """A documented command line, run with this Python (the README's .venv/bin/python)."""
    words = line.split("#")[0].split()
    assert words[0] in (".venv/bin/python", "python", "$(PY)"), line
    return [sys.executable, *words[1:]]


def check_annotated(block: str) -> int:
    """Run a Python block line by line; a line `expr  # value...` (or `print(...)  # ...`)
    must give the figures of its comment (key=value pairs by name). Returns the lines
    checked."""
    scope: dict[str, object] = {}
    checked = 0
    for line in block.splitlines():
        annotated = re.match(r"^(.*?\S)\s+# (.*)$", line)
        code, comment = (annotated.group(1), annotated.group(2)) if annotated else (line, "")
        code = code.strip()
        if not code or code.startswith("#"):
            continue
        if not comment:
            exec(code, scope)  # noqa: S102 - the documented code itself
            continue
        if code.startswith("print("):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(code, scope)  # noqa: S102
            shown = out.getvalue()
        else:
            ast.parse(code, mode="eval")  # an annotated line is an expression
            value = eval(code, scope)  # noqa: S307
            shown = repr(value)
        pairs = re.findall(rf"(\w+)=({NUMBER})", comment)
        if pairs:
            for key, expected in pairs:
                got = re.search(rf"\b{key}=({NUMBER})", shown)
                assert got and close(got.group(1), expected), f"{code}: {key} {shown}"
        else:
            quoted = numbers(re.split(r"\}: | \(", comment)[0])  # the value, not the prose
            got = numbers(shown)
            assert len(got) >= len(quoted), f"{code}: {shown} vs {comment}"
            assert all(close(g, e) for g, e in zip(got, quoted, strict=False)), \
                f"{code}: {shown} vs {comment}"
        checked += 1
    return checked


def test_the_quick_start_and_the_python_blocks_print_what_the_readme_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = re.search(r"^run: .*\n\t(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert recipe is not None
    assert recipe.group(1).replace("$(PY) -m", "python -m") in README  # the quick start says so
    shown = fences(section(README, "## Quick start"))[0]
    assert_like(run(python_command(recipe.group(1)), tmp_path), shown)
    # docs/use-the-model.md quotes the same final line
    use = fences((ROOT / "docs" / "use-the-model.md").read_text())[0]
    assert_like(use, shown.splitlines()[-1])
    # the From Python block, then docs/python-api.md's, in the same folder (they resume it)
    monkeypatch.chdir(tmp_path)
    assert check_annotated(fences(section(README, "## From Python"), "python")[0]) == 1
    api = fences((ROOT / "docs" / "python-api.md").read_text(), "python")[0]
    assert check_annotated(api) == 4


def test_the_first_study_runs_as_written(tmp_path: Path) -> None:
    text = section(README, "## A first study")
    assert "mkdir -p studies" in text
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "my_softmax.toml").write_text(fences(text, "toml")[0])
    commands = [line for line in fences(text, "sh")[0].splitlines() if line.strip()]
    assert len(commands) == 2
    assert_like(run(python_command(commands[0]), tmp_path), fences(text)[0])
    table = run(python_command(commands[1]), tmp_path)
    assert "my_softmax/coarse (maximize): 20 trials" in table
    assert "my_softmax/fine (maximize): 20 trials" in table

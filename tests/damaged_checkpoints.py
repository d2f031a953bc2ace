"""Ways to damage a stored checkpoint file, and the refusal each gets (the regex of its reason):
shared by the checkpoint trust tests of trials and of the final."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np


def truncated(path: Path, kind: str) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def bit_flipped(path: Path, kind: str) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def altered(path: Path, kind: str) -> None:
    """Well-formed (it loads without complaint), but its weights are not the saved ones."""
    if kind == "state.npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["params"] = arrays["params"] * 0.5
        with path.open("wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)
        return
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    state["network"] = {k: v * 0.5 for k, v in state["network"].items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path.write_bytes(buffer.getvalue())


def missing(path: Path, kind: str) -> None:
    path.unlink()


def unrecorded(path: Path, kind: str) -> None:
    """The file as it was; the attr loses its digest below (what an older tuner stored)."""


FAULTS: dict[str, tuple[Callable[[Path, str], None], str]] = {
    "truncated": (truncated, r"its SHA-256 \w+\.\.\. is not the \w+\.\.\. recorded when it was "
                              r"saved \(the file was damaged or changed\)"),
    "bit-flipped": (bit_flipped, r"its SHA-256 \w+\.\.\. is not the \w+\.\.\. recorded"),
    "altered": (altered, r"its SHA-256 \w+\.\.\. is not the \w+\.\.\. recorded"),
    "missing": (missing, r"its file cannot be read \("),
    "unrecorded (an older tuner's)": (
        unrecorded, r"it has no recorded SHA-256 \(saved by an older tuner\)"),
    "for other params": (unrecorded, r"it was saved for other params than this trial's"),
    "a record naming another file": (unrecorded, r"its record is not one this tuner writes"),
}

"""The study's spec stored with its trials: the process that runs a study writes it (as data,
spec/record.py) into the user attrs of a record study `NAME#spec` in the storage before any
stage starts; every worker (`--jobs`, `--cluster`, a `tuner worker NAME` started by hand) reads
it from there, so all of them run the same spaces, stages and overrides, including a StudySpec
changed in Python. A worker that brings its own study file must describe the same study, or it
stops with one line before any trial."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna

from objectives.data.given import is_fingerprint
from tuner.errors import SpecError
from tuner.search.trials import SPEC_SUFFIX
from tuner.spec import StudySpec, find_study_file, load_spec
from tuner.spec.record import first_difference, from_record, to_record
from tuner.storage import mask

log = logging.getLogger("tuner")

SPEC_ATTR = "spec"
ANSWER_ATTR = "answer"


def record_study_name(name: str) -> str:
    return f"{name}{SPEC_SUFFIX}"


def store_spec(storage: Any, spec: StudySpec) -> None:
    """Write `spec` as the study's stored spec (the latest `tuner study`'s: a study file edited
    between runs applies to the stages still to run, as the stages' own stored spaces keep
    the ones already started)."""
    check_dataset(storage, spec)
    record = to_record(spec)
    study = optuna.create_study(storage=storage, study_name=record_study_name(spec.name),
                                load_if_exists=True)
    if study.user_attrs.get(SPEC_ATTR) != record:
        study.set_user_attr(SPEC_ATTR, record)


def check_dataset(storage: Any, spec: StudySpec) -> None:
    """SpecError when study `spec.name` is stored with another dataset than `spec`'s (a file
    or name, or the fingerprint of data given in memory): one study's trials share one
    dataset, and its final retrains on that."""
    record = stored_record(storage, spec.name)
    stored = None if record is None else record.get("dataset")
    if stored is None or stored == spec.dataset:
        return
    if is_fingerprint(stored) and not is_fingerprint(spec.dataset):
        raise SpecError(f"Study '{spec.name}' ran on data given in memory ({stored}); give the "
                        "same data again: tuner.run_study(..., data=...) or tuner.final(..., "
                        "data=...).")
    raise SpecError(f"Study '{spec.name}' ran on {stored}; this run gives {spec.dataset}. "
                    "One study's trials share one dataset: give the same data, or use another "
                    "study name or storage.")


def store_answer(storage: Any, name: str, answer: Mapping[str, Any]) -> None:
    """Keep the study's answer (Answer.record()) beside its spec, where `tuner show`, `list` and
    `report` read it."""
    study = optuna.load_study(study_name=record_study_name(name), storage=storage)
    if study.user_attrs.get(ANSWER_ATTR) != answer:
        study.set_user_attr(ANSWER_ATTR, dict(answer))


def _stored(storage: Any, name: str, attr: str) -> dict[str, Any] | None:
    """The table `attr` kept beside study `name`'s spec, or None."""
    try:
        study = optuna.load_study(study_name=record_study_name(name), storage=storage)
    except KeyError:
        return None
    value = study.user_attrs.get(attr)
    return dict(value) if isinstance(value, dict) else None


def stored_answer(storage: Any, name: str) -> dict[str, Any] | None:
    """The stored answer of study `name`, or None."""
    return _stored(storage, name, ANSWER_ATTR)


def stored_record(storage: Any, name: str) -> dict[str, Any] | None:
    """The stored spec record of study `name`, or None when the storage has none."""
    return _stored(storage, name, SPEC_ATTR)


def stored_spec(storage: Any, name: str, url: str) -> StudySpec:
    """The spec study `name` was started with (what --jobs and --cluster workers run)."""
    record = stored_record(storage, name)
    if record is None:
        raise SpecError(f"No study '{name}' in storage {mask(url)}; start it with `tuner study` "
                        "(or give the worker its study file).")
    return from_record(record)


def with_stored_confirm(storage: Any, spec: StudySpec) -> StudySpec:
    """`spec` with the confirm stage its study last ran with (stored with it): a final then
    retrains the study's own answer, whatever split the study file's `trials` gives now."""
    record = stored_record(storage, spec.name)
    if record is None:
        return spec
    return replace(spec, final=replace(spec.final, confirm=from_record(record).final.confirm))


def joined_spec(storage: Any, url: str, study: str | Path | StudySpec,
                settings: Mapping[str, Any]) -> StudySpec:
    """The spec a worker runs: the stored one. A worker given a study file (a path, or a name
    with a file by that name here) or a StudySpec must describe the same study (its file is
    loaded with the stored study's overrides under the worker's own `settings`); with nothing
    stored, the worker's own spec is stored and run (it is the first process of the study)."""
    name = study.name if isinstance(study, StudySpec) else _name_of(study)
    record = stored_record(storage, name) if name is not None else None
    mine = study if isinstance(study, StudySpec) else _own_spec(study, record, settings)
    if mine is None:
        assert name is not None
        return stored_spec(storage, name, url)
    if record is None and mine.name != name:
        record = stored_record(storage, mine.name)
        if record is not None and not isinstance(study, StudySpec):
            mine = _own_spec(study, record, settings) or mine
    if record is None:
        store_spec(storage, mine)
        return mine
    # the stored record as this version reads it: keys an older version did not write take
    # their defaults instead of reading as differences
    difference = first_difference(to_record(mine), to_record(from_record(record)))
    if difference is not None:
        raise SpecError(f"{mine.path} does not describe study '{mine.name}' as stored in "
                        f"{mask(url)} ({difference}). Give the worker the same study file and "
                        "overrides, or only the study's name where no such file is, to run the "
                        "stored study.")
    return mine


def _name_of(study: str | Path) -> str | None:
    """The study name a worker was given (None for a path: its file says the name)."""
    text = str(study)
    return None if isinstance(study, Path) or text.endswith(".toml") or "/" in text else text


def _own_spec(study: str | Path, record: Mapping[str, Any] | None,
              settings: Mapping[str, Any]) -> StudySpec | None:
    """The worker's own study file loaded with the stored study's overrides under its own, or
    None when a bare name has no file here (the worker runs the stored spec)."""
    try:
        path = find_study_file(study)
    except SpecError:
        if _name_of(study) is not None:
            return None
        raise
    given = {k: v for k, v in settings.items() if v is not None}
    if record is not None:
        given = {"dataset": record["dataset"], "seed": record["seed"],
                 "trials": record["trials_override"],
                 "confirm": record["final"]["confirm"] or False, **given,
                 "overrides": {**record["overrides"], **(given.get("overrides") or {})}}
    return load_spec(path, **given)

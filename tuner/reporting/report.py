"""`tuner report NAME`: every stage's plots, trials CSV, best params and final result on one
Markdown page in a folder."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna

from tuner.engine.spec_store import stored_answer
from tuner.errors import StorageError, TunerError
from tuner.figures.study_plots import study_plots
from tuner.figures.tables import front_csv, trials_csv
from tuner.reporting.inspect import answer_line
from tuner.reporting.text import fmt
from tuner.search.pareto import front, is_multi
from tuner.search.space import params_text
from tuner.search.trials import (
    PRUNING_SUFFIX,
    best_trial,
    directions_text,
    is_companion,
    objective_names,
    state_counts,
)

STAGE_SEPARATORS = ("/", ".", ":")


def stage_studies(storage: Any, name: str) -> list[str]:
    """Optuna study names that belong to study `name`: itself, or `name` + separator + stage."""
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    names = [s.study_name for s in summaries]
    prefixes = tuple(name + sep for sep in STAGE_SEPARATORS)
    return [n for n in names if (n == name or n.startswith(prefixes))
            and not is_companion(n)]


def default_out(name: str) -> Path:
    """reports/NAME, the folder `tuner report` writes to unless told otherwise."""
    return Path("reports") / safe_dir(name)


def write_report(storage: Any, name: str, out: Path) -> Path:
    """Plots, trials CSV and best params of every stage of study `name`; returns README.md.
    A folder that cannot be written is one TunerError line."""
    found = stage_studies(storage, name)
    if not found:
        raise StorageError(f"No study named '{name}' in the storage; `tuner list` shows them.")
    try:
        return _write(storage, name, found, out)
    except OSError as exc:
        raise TunerError(f"Cannot write the report into {out}: "
                         f"{exc.strerror or exc} ({exc.filename or out}).") from None


def _write(storage: Any, name: str, found: list[str], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Study report: {name}", "",
             f"Written {datetime.now().isoformat(timespec='seconds')} by `tuner report`.", ""]
    all_names = set(optuna.get_all_study_names(storage))
    answer = stored_answer(storage, name)
    if answer is not None:
        lines += ["## Answer", "", f"{answer_line(answer)}. This is the configuration "
                  "`tuner final` retrains and tests once.", ""]
    for study_name in found:
        study = optuna.load_study(study_name=study_name, storage=storage)
        folder = out / safe_dir(study_name)
        trials_csv(study, folder / "trials.csv")
        curves = study_name + PRUNING_SUFFIX
        plots = study_plots(study, folder, optuna.load_study(study_name=curves, storage=storage)
                            if is_multi(study) and curves in all_names else None)
        counts = state_counts(study)
        best = best_trial(study)
        objectives = objective_names(study)
        lines += [f"## {study_name}", "",
                  f"Direction: {directions_text(study)}. Trials: "
                  + ", ".join(f"{n} {state.lower()}" for state, n in counts.items()),
                  f"([trials.csv]({folder.name}/trials.csv))", ""]
        if best is not None:
            lines += [f"Best value **{fmt(best.value, 6)}** (trial {best.number}):", "",
                      "| param | value |", "|---|---|"]
            lines += [f"| {k} | {fmt(v, 6)} |" for k, v in best.params.items()]
            lines.append("")
        if is_multi(study):
            front_csv(study, folder / "pareto_front.csv")
            on_front = front(study)
            lines += [f"Pareto front: {len(on_front)} trials "
                      f"([pareto_front.csv]({folder.name}/pareto_front.csv)):", "",
                      "| trial | " + " | ".join(objectives) + " | params |",
                      "|---|" + "---|" * len(objectives) + "---|"]
            lines += [f"| {t.number} | " + " | ".join(fmt(v, 6) for v in t.values)
                      + f" | {params_text(t.params)} |" for t in on_front]
            lines.append("")
        final = study.user_attrs.get("final")
        if isinstance(final, Mapping):
            lines += ["Final evaluation (best config retrained, test split used once):", "",
                      "| result | value |", "|---|---|"]
            lines += [f"| {k} | {fmt(v, 6)} |" for k, v in final.items()
                      if not isinstance(v, (Mapping, list))]
            lines.append("")
        for plot in plots:
            lines += [f"![{plot.stem}]({folder.name}/{plot.name})", ""]
    page = out / "README.md"
    page.write_text("\n".join(lines))
    return page


def safe_dir(study_name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in study_name)

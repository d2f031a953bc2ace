"""The text of `tuner list` (every study in a storage, with counts and best values) and `tuner
show NAME` (per stage a trials table and the best params, plus the final test result). The
table shows each trial's last val_accuracy too, useful when the study minimizes val_loss, and why
a trial ended so (a failed trial: its exception's last line; the traceback is in its MLflow run),
and a cross-validated trial's spread over its folds (<metric>_std)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.engine.checkpoints import REFUSED_ATTR
from tuner.engine.spec_store import stored_answer
from tuner.engine.stopping import STOPPED_ATTR
from tuner.errors import TunerError
from tuner.reporting.text import fmt, table
from tuner.results import Answer
from tuner.search.pareto import front, is_multi
from tuner.search.space import params_text
from tuner.search.trials import (
    COPIED_ATTR,
    SPEC_SUFFIX,
    best_trial,
    directions_text,
    is_companion,
    objective_names,
    own_trials,
)
from tuner.spec.model import CONFIRM_STAGE
from tuner.storage import mask

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
REASON_CHARS = 60
"""A reason longer than this is cut in the table, so a row stays one line."""


def _counts(trials: Sequence[FrozenTrial]) -> list[str]:
    """How many trials the stage ran ended in each state (its warm-start copies aside)."""
    own = own_trials(list(trials))
    return [str(sum(t.state == s for t in own)) for s in COUNTED]


def list_text(storage: Any, url: str) -> str:
    """One row per Optuna study (stage) in the storage."""
    every = optuna.get_all_study_names(storage)
    names = sorted(n for n in every if not is_companion(n))
    if not names:
        return f"no studies in {mask(url)}"
    rows = [["study", "complete", "pruned", "failed", "running", "best", "final test"]]
    below = []
    for record in sorted(n for n in every if n.endswith(SPEC_SUFFIX)):
        study_name = record.removesuffix(SPEC_SUFFIX)
        answer = stored_answer(storage, study_name)
        if answer is not None:
            below.append(f"{study_name} {answer_line(answer)}")
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        best = best_trial(study)
        shown = f"front of {len(front(study))}" if is_multi(study) else \
            fmt(best.value if best else None)
        if name.endswith(f"/{CONFIRM_STAGE}"):
            shown = "(answer below)"  # its best single repeat is no answer
        rows.append([name, *_counts(study.get_trials(deepcopy=False)), shown,
                     _final_test(study)])
        stopped = study.user_attrs.get(STOPPED_ATTR)
        if stopped:
            below.append(f"{name} stopped early: {stopped['reason']}")
    return "\n".join([table(rows), *below])


def _final_test(study: optuna.Study) -> str:
    """The final's test value of the stage's own metric (val_rmse -> test_rmse), else its
    first test metric; "-" without a final."""
    final = study.user_attrs.get("final") or {}
    tests = [k for k in final if k.startswith("test_") and k != "test_size"]
    metric = (study.metric_names or ["val_accuracy"])[0]
    own = "test_" + metric.partition("_")[2]
    key = own if own in tests else (tests[0] if tests else None)
    return "-" if key is None else f"{key} {fmt(final[key])}"


def show_text(storage: Any, url: str, name: str) -> str:
    """Every stage of study `name`: its space, trials table, best trial and final result."""
    names = sorted(n for n in optuna.get_all_study_names(storage)
                   if (n == name or n.startswith(name + "/")) and not is_companion(n))
    if not names:
        raise TunerError(f"No study '{name}' in storage {mask(url)}; "
                         "`tuner list` shows the studies there.")
    text = "\n".join(_stage_text(optuna.load_study(study_name=n, storage=storage))
                     for n in names)
    answer = stored_answer(storage, name)
    return text if answer is None else text + "\n" + answer_line(answer) + "\n"


def answer_line(record: dict[str, Any]) -> str:
    """The study's answer as `show` and `list` print it (the trial the final retrains)."""
    answer = Answer.from_record(record)
    return f"answer: {answer.describe()}: {params_text(answer.params)}"


def _reason(attrs: dict[str, Any]) -> str:
    """Why a trial ended so (on one line, cut at REASON_CHARS), and whether it continued another's
    checkpoint or refused it."""
    reason = " ".join(str(attrs.get("reason") or "").split())
    if len(reason) > REASON_CHARS:
        reason = reason[:REASON_CHARS - 3] + "..."
    parts = [reason] if reason else []
    if attrs.get("resumed_from_trial") is not None:
        parts.append(f"{'exploited' if attrs.get('exploited') else 'resumed'} "
                     f"#{attrs['resumed_from_trial']} at step {attrs.get('resumed_at_step')}")
    if attrs.get(REFUSED_ATTR):
        parts.append("its checkpoint refused, trained from scratch")
    if attrs.get(COPIED_ATTR):
        parts.append(f"copied from {attrs[COPIED_ATTR]} (not trained here)")
    return "; ".join(parts)


def checkpoints_line(folder: Path) -> str:
    """How much disk the trial checkpoints in `folder` take."""
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    size = sum(p.stat().st_size for p in files)
    return f"checkpoints: {len(files)} files, {size / 1e6:.1f} MB in {folder}"


def _attr(trial: FrozenTrial, name: str) -> Any:
    """A column of `show`'s table: a last metric (val_accuracy, or a cross-validated trial's
    spread over its folds, <metric>_std), else the user attr."""
    if name == "val_accuracy" or name.endswith("_std"):
        return (trial.user_attrs.get("metrics") or {}).get(name)
    return trial.user_attrs.get(name)


def _stage_text(study: optuna.Study) -> str:
    trials = study.get_trials(deepcopy=False)
    params = sorted({p for t in trials for p in t.params})
    objectives = objective_names(study)
    copied = len(trials) - len(own_trials(trials))
    lines = [f"{study.study_name} ({directions_text(study)}): {len(trials) - copied} trials"
             + (f" and {copied} copied from its source stage" if copied else "")]
    space = study.user_attrs.get("space")
    if space:
        lines.append("  space: " + "; ".join(_space_text(d) for d in space))
    stopped = study.user_attrs.get(STOPPED_ATTR)
    if stopped:
        lines.append(f"  stopped early: {stopped['reason']}")
    multi = is_multi(study)
    on_front = front(study)
    on_front_numbers = {t.number for t in on_front}
    heads = [*objectives, "front"] if multi else ["value"]
    shown = [m for m in (*(f"{m}_std" for m in objectives), "val_accuracy", "epochs", "seconds")
             if not multi or m not in objectives]
    if study.study_name.endswith(f"/{CONFIRM_STAGE}"):
        shown = ["candidate", "repeat", *shown]
    if "pbt" in study.user_attrs:
        shown = ["member", "generation", *shown]
    # a column no trial has is left out (val_accuracy in a regression study)
    shown = [m for m in shown if any(_attr(t, m) is not None for t in trials)]
    rows = [["#", "state", *heads, *params, *shown, "pruned_at", "reason"]]
    for t in trials:
        a = t.user_attrs
        values = [fmt(v) for v in t.values] if t.values else ["-"] * len(objectives)
        mark = ["*" if t.number in on_front_numbers else ""] if multi else []
        rows.append([str(t.number), t.state.name, *values, *mark,
                     *(fmt(t.params.get(p)) for p in params),
                     *(fmt(_attr(t, m)) for m in shown), fmt(a.get("pruned_at")), _reason(a)])
    if trials:
        lines.append(table(rows))
    best = best_trial(study)
    confirming = study.study_name.endswith(f"/{CONFIRM_STAGE}")
    if confirming:
        lines.append("  repeats of the search's top candidates (user attr candidate); the "
                     "answer is the best mean")
    elif best is not None:
        lines.append(f"  best: trial {best.number} value {fmt(best.value)}: "
                     f"{params_text(best.params)}")
    lines += _schedule_lines(study.user_attrs.get("schedule"))
    if multi:
        lines.append(f"  pareto front: {len(on_front)} trials (* above)")
        lines += [f"    trial {t.number}: " + ", ".join(
            f"{m} {fmt(v)}" for m, v in zip(objectives, t.values, strict=True))
            + f": {params_text(t.params)}" for t in on_front]
    final = study.user_attrs.get("final")
    if final:
        tests = ", ".join(f"{k} {fmt(v)}" for k, v in final.items() if k.startswith("test_")
                          and k != "test_size")
        model = f"; model {final['model_uri']}" if final.get("model_uri") else ""
        rule = f", chosen by {final['rule']}" if final.get("rule") else ""
        lines.append(f"  final: {tests} (trial {final.get('trial')}{rule}, "
                     f"{final.get('train_size')} training samples{model})")
    return "\n".join(lines) + "\n"


def _schedule_lines(plan: Any) -> list[str]:
    """A PBT stage's schedule (the winning member's params from each generation's first
    step), one line per generation."""
    if not plan:
        return []
    last = plan[-1]
    lines = [f"  schedule of member {last['member']} (trial {last['trial']}), replayed by the "
             "final:"]
    before = None
    for entry in plan:
        how = f" (exploited trial {before})" if entry.get("exploited") else ""
        lines.append(f"    from step {entry['step']}, trial {entry['trial']}{how}: "
                     f"{params_text(entry['params'])}")
        before = entry["trial"]
    return lines


def _space_text(d: dict[str, Any]) -> str:
    if d.get("kind") == "categorical":
        return f"{d['name']} in {d['choices']}"
    log = " log" if d.get("log") else ""
    return f"{d['name']} [{fmt(d.get('low'))}, {fmt(d.get('high'))}]{log}"

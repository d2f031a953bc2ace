"""`tuner list` (every study in a storage, with counts and best values) and `tuner show NAME`
(per stage a trials table and the best params, plus the final test result when there is one).
The table shows each trial's last val_accuracy too, useful when the study minimizes val_loss."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import storage as storage_mod
from tuner.errors import TunerError


def _open(url: str | None) -> tuple[Any, str]:
    resolved = storage_mod.resolve_url(url)
    return storage_mod.open_storage(resolved), resolved


def _counts(trials: Sequence[FrozenTrial]) -> str:
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
    return " ".join(f"{sum(t.state == s for t in trials):>4}" for s in states)


def _best(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:
        return None


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def list_command(args: argparse.Namespace) -> int:
    storage, url = _open(args.storage)
    names = sorted(optuna.get_all_study_names(storage))
    if not names:
        print(f"no studies in {storage_mod.mask(url)}")
        return 0
    rows = [["study", "complete", "pruned", "failed", "running", "best", "test_accuracy"]]
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        best = _best(study)
        final = study.user_attrs.get("final") or {}
        rows.append([name, *_counts(trials).split(), _fmt(best.value if best else None),
                     _fmt(final.get("test_accuracy"))])
    print(_table(rows))
    return 0


def show_command(args: argparse.Namespace) -> int:
    storage, url = _open(args.storage)
    names = sorted(n for n in optuna.get_all_study_names(storage)
                   if n == args.name or n.startswith(args.name + "/"))
    if not names:
        raise TunerError(f"No study '{args.name}' in storage {storage_mod.mask(url)}; "
                         "`tuner list` shows the studies there.")
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        print(_show_stage(study))
    return 0


def _show_stage(study: optuna.Study) -> str:
    trials = study.get_trials(deepcopy=False)
    params = sorted({p for t in trials for p in t.params})
    lines = [f"{study.study_name} ({study.direction.name.lower()}): {len(trials)} trials"]
    space = study.user_attrs.get("space")
    if space:
        lines.append("  space: " + "; ".join(_space_text(d) for d in space))
    rows = [["#", "state", "value", *params, "val_accuracy", "epochs", "seconds", "pruned_at",
             "reason"]]
    for t in trials:
        a = t.user_attrs
        rows.append([str(t.number), t.state.name, _fmt(t.value),
                     *(_fmt(t.params.get(p)) for p in params),
                     _fmt((a.get("metrics") or {}).get("val_accuracy")), _fmt(a.get("epochs")),
                     _fmt(a.get("seconds")), _fmt(a.get("pruned_at")), str(a.get("reason") or "")])
    if trials:
        lines.append(_table(rows))
    best = _best(study)
    if best is not None:
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
        lines.append(f"  best: trial {best.number} value {_fmt(best.value)}: {shown}")
    final = study.user_attrs.get("final")
    if final:
        lines.append(f"  final: test_accuracy {_fmt(final.get('test_accuracy'))}, test_loss "
                     f"{_fmt(final.get('test_loss'))} (trial {final.get('trial')}, "
                     f"{final.get('train_size')} training samples)")
    return "\n".join(lines) + "\n"


def _space_text(d: dict[str, Any]) -> str:
    if d.get("kind") == "categorical":
        return f"{d['name']} in {d['choices']}"
    log = " log" if d.get("log") else ""
    return f"{d['name']} [{_fmt(d.get('low'))}, {_fmt(d.get('high'))}]{log}"

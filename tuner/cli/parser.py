"""The command line: every command, flag and help text (the only argparse user in tuner)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 1 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(1, f"{self.prog}: error: {message}\n")


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key.strip(), value.strip()


def positive(what: str) -> Callable[[str], int]:
    """An argparse type: an int >= 1, else one line naming `what`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be a positive number of {what}. "
                                             f"Got {text} instead.")
        return value

    return parse


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="dataset root (default: $TUNER_DATA_DIR, then usual places)")
    p.add_argument("--download", action="store_true", help="download missing data via torchvision")
    p.add_argument("--threads", type=positive("threads"),
                   help="CPU threads per training run (default: a fair share of the cores beside "
                   "the other trainers on this machine, --jobs workers included; a config's own "
                   "`threads` wins)")


def _study_args(p: argparse.ArgumentParser, trials: bool = True) -> None:
    p.add_argument("name", help="built-in study name, studies/NAME.toml, or a path to a .toml")
    p.add_argument("--dataset", help="override the study's dataset")
    _data_args(p)
    p.add_argument("--set", dest="overrides", action="append", type=key_value, metavar="KEY=VALUE",
                   help="override a fixed param (repeatable)")
    if trials:  # not for `final`, which runs no stage
        p.add_argument("--trials", type=int, help="override every stage's trial count")
        p.add_argument("--budget", metavar="DURATION", help="wall time for the stages still to "
                       "run, e.g. 2h, 90m, 45s (spread over them by their trial counts)")
    p.add_argument("--seed", type=int, help="override the study seed")
    confirm = p.add_mutually_exclusive_group()
    confirm.add_argument("--confirm", action="store_const", const=True, dest="confirm",
                         help="confirm the answer: train its top candidates again with other "
                         "seeds and pick the best mean ([final] confirm, else the default "
                         "recipe's, else top_k 5 x repeats 2)")
    confirm.add_argument("--no-confirm", action="store_const", const=False, dest="confirm",
                         help="no confirm stage: the answer is the best single measurement")
    p.add_argument("--storage", help="Optuna storage URL (default: $TUNER_STORAGE or "
                   "sqlite:///tuner.db)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI "
                   "or sqlite:///mlflow.db, MLflow's own default)")
    p.add_argument("--no-tracking", action="store_true", help="do not record in MLflow")


def _checkpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint-dir", help="where trial checkpoints go (default: "
                   "$TUNER_CHECKPOINT_DIR, then checkpoints/ beside a SQLite storage)")
    p.add_argument("--no-checkpoints", action="store_true",
                   help="do not checkpoint trials (a stopped trial then restarts from scratch)")


def _storage_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", help="Optuna storage URL (default: $TUNER_STORAGE or "
                   "sqlite:///tuner.db)")


def _register_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-register", action="store_true", help="log the final's model in its "
                   "MLflow run but do not register it under the study's name")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tuner")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tuner", description="Hyperparameter studies with Optuna, tracked in "
                    "MLflow. Every bad input is one line on stderr and exit code 1.")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"tuner {_version()}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    p = sub.add_parser("run", help="train one objective once with a fixed config")
    p.add_argument("objective", help="a built-in objective (softmax, two_layer, mlp, lenet, "
                   "cifar_cnn) or module:attr (an estimator, a training function)")
    p.add_argument("--dataset", required=True, help="a built-in dataset (mnist, fashion_mnist, "
                   "cifar10, digits) or a .csv / .npz file")
    _data_args(p)
    p.add_argument("--set", dest="overrides", action="append", type=key_value, metavar="KEY=VALUE",
                   help="set one param (repeatable); the others keep their defaults")
    p.add_argument("--seed", type=int, default=0, help="training seed (default: %(default)s)")
    p.add_argument("--target", metavar="COLUMN", help="a CSV's target column (default: the "
                   "last one)")
    p.add_argument("--task", choices=("classification", "regression"),
                   help="what the target is (default: inferred; integer targets are classes)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")

    p = sub.add_parser("gradcheck", help="analytic vs numerical gradients of a NumPy objective")
    p.add_argument("objective", help="softmax or two_layer")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and data "
                   "(default: %(default)s)")

    p = sub.add_parser("study", help="run (or resume) a study: every stage, then optionally final")
    _study_args(p)
    _checkpoint_args(p)
    p.add_argument("--dry-run", action="store_true", help="print the resolved stages and exit")
    p.add_argument("--final", action="store_true", help="retrain the best config and test it")
    _register_arg(p)
    p.add_argument("--jobs", type=positive("processes"),
                   help="worker processes on this machine (default 1), or tuner workers on the "
                   "Dask cluster with --cluster (default: one per Dask worker thread)")
    p.add_argument("--cluster", metavar="ADDRESS", help="run the trials on the Dask cluster "
                   "whose scheduler is at ADDRESS (tcp://host:8786; default $TUNER_CLUSTER); "
                   "needs a storage every Dask worker can reach (PostgreSQL)")

    p = sub.add_parser("worker", help="join a study as one more worker (same as study, no final)")
    _study_args(p)
    _checkpoint_args(p)

    p = sub.add_parser("list", help="studies in the storage with counts and best values")
    _storage_arg(p)

    p = sub.add_parser("show", help="trials table per stage and best params of one study")
    p.add_argument("name", help="the study's name")
    _storage_arg(p)

    p = sub.add_parser("final", help="retrain the best config on train+val, evaluate on test once")
    _study_args(p, trials=False)
    _checkpoint_args(p)
    _register_arg(p)
    p.add_argument("--trial", metavar="[STAGE:]N", help="retrain this trial (N of the last "
                   "stage, or STAGE:N) instead of the one [final] pick chooses")

    p = sub.add_parser("predict", help="predict with a study's tuned model (latest registered "
                       "version) on a .csv / .npy / .npz file or a folder of images")
    p.add_argument("name", help="the study (its registered model's name)")
    p.add_argument("--input", required=True, help="raw rows (.csv, .npy, .npz) or a folder of "
                   "PNG / JPEG images")
    p.add_argument("--output", default="predictions.csv",
                   help="CSV to write: index, source, class, p_<class> (default: %(default)s)")
    p.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                   help="whether the CSV's first line names the columns (default: it does "
                   "when it names the model's columns, is 0..n-1 as pandas writes, or is not "
                   "all numbers)")
    p.add_argument("--model-uri", help="any MLflow model URI (default: models:/NAME/latest)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI "
                   "or sqlite:///mlflow.db)")

    p = sub.add_parser("ui", help="start the MLflow UI on the tracking store (127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port (default: %(default)s)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: "
                   "%(default)s, this machine only)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI "
                   "or sqlite:///mlflow.db)")

    p = sub.add_parser("report", help="write a study's plots and summary page to a folder")
    p.add_argument("name", help="the study's name")
    p.add_argument("--out", help="output folder (default: reports/NAME)")
    _storage_arg(p)
    return parser

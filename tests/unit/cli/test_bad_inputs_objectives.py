"""Objectives and the user's own data that used to be accepted at load and then fail trial after
trial: each is now refused before the first trial, one line on stderr, exit code 1, no trial
row and no MLflow run (at run time: tests/unit/objectives/test_user_code.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from bad_studies import nothing_written, stored_args
from own_studies import (
    C_SPACE,
    LOGREG,
    corrupt_npz,
    npy_bytes,
    npz,
    set_cell,
    single_class,
    study,
    truncated_npz,
    wine_csv,
    with_file,
    with_module,
)

from tuner.cli import main

PATH = r"error: \S*bad\.toml: "
# (name, how to build the study file, the error line it must print)
CASES: list[tuple[str, Callable[[Path], str], str]] = [
    # objectives that cannot be called as the tuner calls them
    ("os:system", lambda t: study(t, objective="os:system"),
     rf"{PATH}objective: 'os:system' takes \(command\); a training function is called as "
     r"fn\(config, train, val, report\)\.$"),
    ("pickle:loads", lambda t: study(t, objective="pickle:loads"),
     rf"{PATH}objective: 'pickle:loads' takes \(data, /, .*\); a training function is called"),
    ("a one-argument function", with_module(
        "one_arg_fn", "def train(config):\n    return None\n", objective="one_arg_fn:train"),
     rf"{PATH}objective: 'one_arg_fn:train' takes \(config\); a training function is called "
     r"as fn\(config, train, val, report\)\.$"),
    ("a function of five required arguments", with_module(
        "five_args_fn", "def train(config, train, val, report, seed):\n    return None\n",
        objective="five_args_fn:train"),
     rf"{PATH}objective: 'five_args_fn:train' takes \(config, train, val, report, seed\);"),
    ("a class without fit", with_module(
        "no_fit_cls", "class Model:\n    def predict(self, X):\n        return X\n",
        objective="no_fit_cls:Model"),
     rf"{PATH}objective: 'no_fit_cls:Model' is a class without fit; expected an estimator "
     r"class \(fit\(X, y\) and predict\(X\)\)"),
    ("a class without fit or predict", with_module(
        "bare_cls", "class Model:\n    pass\n", objective="bare_cls:Model"),
     rf"{PATH}objective: 'bare_cls:Model' is a class without fit and predict;"),
    ("an estimator class without get_params", with_module(
        "no_params_cls", "class Model:\n    def fit(self, X, y):\n        return self\n"
        "    def predict(self, X):\n        return X\n", objective="no_params_cls:Model"),
     rf"{PATH}objective: no_params_cls:Model has fit and predict but no get_params\(\)"),
    ("an estimator whose fit takes no y", with_module(
        "fit_x_only", "from sklearn.base import BaseEstimator\n"
        "class Model(BaseEstimator):\n    def fit(self, X):\n        return self\n"
        "    def predict(self, X):\n        return X\n", objective="fit_x_only:Model"),
     rf"{PATH}objective: fit_x_only:Model\.fit takes \(X\); the tuner calls fit\(X, y\)\.$"),
    ("an objective whose fit takes one argument", with_module(
        "short_fit_obj", "class Objective:\n    name = 'short'\n    params = {}\n"
        "    normalize = 'none'\n    def fit(self, config):\n        return None\n"
        "OBJECTIVE = Objective()\n", objective="short_fit_obj:OBJECTIVE", space="",
        extra="[fixed]"),
     rf"{PATH}objective: 'short_fit_obj:OBJECTIVE'\.fit takes \(config\); the tuner calls "
     r"fit\(config, train, val, report, seed, image_shape\)\.$"),
    # user modules that end the process
    ("sys.exit(0) importing the objective", with_module(
        "exits_on_import", "import sys\nsys.exit(0)\n", objective="exits_on_import:Model"),
     rf"{PATH}objective: cannot import module 'exits_on_import' \(it called sys\.exit\(0\)\)"
     r"\.$"),
    ("sys.exit in an estimator's constructor", with_module(
        "exits_on_init", "import sys\nclass Model:\n    def __init__(self):\n"
        "        sys.exit(2)\n    def fit(self, X, y):\n        return self\n"
        "    def predict(self, X):\n        return X\n", objective="exits_on_init:Model"),
     rf"{PATH}objective: exits_on_init:Model\(\) cannot be built with its defaults \(it "
     r"called sys\.exit\(2\)\)\.$"),
    ("sys.exit(0) importing the data loader", lambda t: with_module(
        "exits_loader", "import sys\nsys.exit(0)\n", dataset="exits_loader:data")(t),
     r"error: Dataset 'exits_loader:data': cannot import module 'exits_loader' \(it called "
     r"sys\.exit\(0\)\)\.$"),
    ("sys.exit in the data loader", lambda t: with_module(
        "exits_in_loader", "import sys\ndef data():\n    sys.exit('no data today')\n",
        dataset="exits_in_loader:data")(t),
     r"error: Dataset 'exits_in_loader:data': it called sys\.exit\('no data today'\)$"),
    # estimator values the estimator's own validation rejects
    ("a fixed value the estimator rejects", lambda t: study(
        t, extra='[fixed]\nsolver = "nope"'),
     rf"{PATH}stages\.only \(its fixed params\): {re.escape(LOGREG)} rejects this value: The "
     r"'solver' parameter of LogisticRegression must be a str among"),
    ("a space bound the estimator rejects", lambda t: study(
        t, space="C = { low = -1.0, high = 1.0 }"),
     rf"{PATH}stages\.only\.space\.C: {re.escape(LOGREG)} rejects this value: The 'C' "
     r"parameter of LogisticRegression must be a float in the range \(0\.0, inf\]\. Got -1\.0"),
    ("a choice the estimator rejects", lambda t: study(
        t, space=C_SPACE + '\npenalty = { choices = ["l2", "l3"] }'),
     rf"{PATH}stages\.only\.space\.penalty: .* The 'penalty' parameter of LogisticRegression "
     r"must be .* Got 'l3' instead\.$"),
    ("a final value the estimator rejects", lambda t: study(
        t, extra="[final]\nset = { max_iter = -1 }"),
     rf"{PATH}final\.set: {re.escape(LOGREG)} rejects this value: The 'max_iter' parameter of "
     r"LogisticRegression must be an int in the range \[0, inf\)\. Got -1 instead\.$"),
    ("a nested pipeline value the estimator rejects", with_module(
        "pipe_mod", "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler\n"
        "PIPE = make_pipeline(StandardScaler(), LogisticRegression())\n",
        objective="pipe_mod:PIPE",
        space="logisticregression__C = { low = -2.0, high = 1.0 }"),
     rf"{PATH}stages\.only\.space\.logisticregression__C: pipe_mod:PIPE rejects this value: "
     r"The 'C' parameter of LogisticRegression must be a float"),
    ("a regressor on classes", lambda t: study(
        t, objective="sklearn.linear_model:Ridge", space="alpha = { low = 0.1, high = 1.0 }"),
     rf"{PATH}objective: sklearn\.linear_model:Ridge is a regressor; wine\.csv has a "
     r"classification target\. Expected a classifier, or task = \"regression\" in the study if "
     r"the target is one\.$"),
    ("a classifier on a regression target", with_file("prices.csv", lambda p: p.write_text(
        "a,b,y\n" + "".join(f"{i},{i % 5},{i * 0.37}\n" for i in range(60))),
        metric="val_rmse"),
     rf"{PATH}objective: {re.escape(LOGREG)} is a classifier; prices\.csv has a regression "
     r"target\. Expected a regressor, or task = \"classification\""),
    # CSV files
    ("a semicolon-separated CSV", with_file("semi.csv", lambda p: wine_csv(p, sep=";")),
     r"error: \S*semi\.csv: its fields look separated by ';'; expected commas"),
    ("a tab-separated CSV", with_file("tabs.csv", lambda p: wine_csv(p, sep="\t")),
     r"error: \S*tabs\.csv: its fields look separated by '\\t'; expected commas"),
    ("a CSV of one column", with_file("one.csv", lambda p: p.write_text(
        "y\n" + "0\n1\n" * 30)), r"error: \S*one\.csv: it has one column; expected commas"),
    ("a blank class in the target", with_file("blank.csv", lambda p: wine_csv(
        p, blank_row=4)), r"error: \S*blank\.csv: line 6: the target 'y' is blank; every row "
                          r"needs a target \(drop the row or fill it in\)\.$"),
    ("a blank regression target", with_file("reg.csv", lambda p: p.write_text(
        "a,b,y\n" + "".join(f"{i},{i % 5},{'' if i == 9 else i * 0.37}\n" for i in range(60)))),
     r"error: \S*reg\.csv: line 11: the target 'y' is blank"),
    ("an NA target", with_file("na.csv", lambda p: wine_csv(
        p, edit=set_cell(3, -1, "NA"))),
     r"error: \S*na\.csv: line 3: the target 'y' is missing \('NA'\); every row needs"),
    ("a CSV in latin-1", with_file("latin.csv", lambda p: p.write_bytes(
        "caf\xe9,b,y\n1,2,0\n3,4,1\n".encode("latin-1"))),
     r"error: \S*latin\.csv is not UTF-8 text \(byte 0xe9 at offset 3\); expected a CSV file "
     r"saved as UTF-8\.$"),
    ("a binary file named .csv", with_file("binary.csv", lambda p: p.write_bytes(
        b"a,b,y\n1,\x00\x01,0\n" * 10)),
     r"error: \S*binary\.csv holds NUL bytes; expected a CSV text file"),
    ("an empty CSV", with_file("empty.csv", lambda p: p.write_text("")),
     r"error: \S*empty\.csv has no data rows; expected a header row and one row per sample"),
    ("a CSV with a header only", with_file("head.csv", lambda p: p.write_text("a,b,y\n")),
     r"error: \S*head\.csv has no data rows"),
    ("a target column that does not exist", lambda t: study(t, extra='target = "cultivar"'),
     r"error: \S*wine\.csv has no column 'cultivar' \(the target\); its columns: alcohol,"),
    ("a target of a single class", with_file("single.csv", single_class),
     r"error: \S*single\.csv: the target has 1 class; classification needs at least 2\.$"),
    ("a feature that is not a number", with_file("words.csv", lambda p: wine_csv(
        p, edit=set_cell(4, 0, "fourteen"))),
     r"error: \S*words\.csv: column 'alcohol' is not numeric \(line 4: 'fourteen'\); feature "
     r"columns must hold numbers\.$"),
    ("a blank feature cell", with_file("hole.csv", lambda p: wine_csv(
        p, edit=set_cell(5, 0, ""))),
     r"error: \S*hole\.csv: column 'alcohol' is blank at line 5; feature columns must hold "
     r"numbers\.$"),
    ("NaN in a feature cell", with_file("nan.csv", lambda p: wine_csv(
        p, edit=set_cell(7, 1, "nan"))),
     r"error: \S*nan\.csv: the features hold NaN or infinite values \(first at line 7, column "
     r"'malic_acid': 'nan'\)"),
    ("inf in a feature cell", with_file("inf.csv", lambda p: p.write_text(
        "a,b,y\n" + "".join(f"{i},{'inf' if i == 3 else i},{i % 2}\n" for i in range(40)))),
     r"error: \S*inf\.csv: the features hold NaN or infinite values \(first at line 5, column "
     r"'b': 'inf'\); expected finite numbers in every feature cell\.$"),
    ("a column named twice", with_file("twice.csv", lambda p: p.write_text(
        "a,a,y\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(40)))),
     r"error: \S*twice\.csv: column 'a' appears twice in the header row"),
    # .npz files
    ("a .npy named .npz", with_file("arr.npz", lambda p: p.write_bytes(
        npy_bytes(np.ones((40, 3))))),
     r"error: \S*arr\.npz is a single \.npy array, not a \.npz archive; expected "
     r"np\.savez\(path, X=features, y=targets\)\.$"),
    ("a truncated .npz", with_file("cut.npz", truncated_npz),
     r"error: \S*cut\.npz is not a readable \.npz of plain arrays \(BadZipFile: "),
    ("a corrupt .npz", with_file("crc.npz", corrupt_npz),
     r"error: \S*crc\.npz is not a readable \.npz of plain arrays \(\w+: "),
    ("an empty .npz file", with_file("void.npz", lambda p: p.write_bytes(b"")),
     r"error: \S*void\.npz is not a readable \.npz of plain arrays \(EOFError: "),
    ("an .npz without feature columns", with_file("nocols.npz", npz(
        X=np.empty((40, 0)), y=np.arange(40) % 2)),
     r"error: \S*nocols\.npz: the features have no columns; expected at least one feature"),
    ("inf in an .npz feature", with_file("infs.npz", npz(
        X=np.where(np.arange(80).reshape(40, 2) == 9, np.inf, 1.0), y=np.arange(40) % 2)),
     r"error: \S*infs\.npz: the features hold NaN or infinite values \(first at row 4, "
     r"column 1\)\.$"),
    ("complex features in an .npz", with_file("complex.npz", npz(
        X=np.ones((40, 2)) + 1j, y=np.arange(40) % 2)),
     r"error: \S*complex\.npz: the features are complex numbers; expected real ones\.$"),
    ("a blank label in an .npz", with_file("labels.npz", npz(
        X=np.ones((40, 2)), y=np.array(["a", "b"] * 19 + ["", "b"]))),
     r"error: \S*labels\.npz: the target holds a blank label; every row needs a target\.$"),
]




@pytest.mark.parametrize(("build", "line"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_objective_or_data_is_one_line_exit_1_and_nothing_written(
    build: Callable[[Path], str], line: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["study", build(tmp_path), *stored_args(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.match(line, err.strip()), err
    nothing_written(tmp_path)

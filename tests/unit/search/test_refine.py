"""Refine-bound math: top-k span (log space for log params), widened by a margin, clipped."""

from __future__ import annotations

import math

import pytest

from tuner.search.refine import clip_config, refine_param, refine_space, top_k
from tuner.spec import ParamSpace, Refine

LAMBDA = ParamSpace("lambda", "float", low=1e-5, high=1e-1, log=True)


def test_log_span_widened_by_margin() -> None:
    p = refine_param(LAMBDA, [1e-3, 1e-2, 3e-3], margin=0.5)
    # span = 1 decade; half a decade on each side
    assert p.low == pytest.approx(10 ** -3.5) and p.high == pytest.approx(10 ** -1.5)
    assert p.log and p.name == "lambda"


def test_clipped_to_original_bounds() -> None:
    p = refine_param(LAMBDA, [1e-5, 1e-4], margin=1.0)
    assert p.low == pytest.approx(1e-5) and p.high == pytest.approx(1e-3)
    p = refine_param(LAMBDA, [5e-2, 1e-1], margin=2.0)
    assert p.high == pytest.approx(1e-1)


def test_single_value_gets_a_tenth_of_the_range() -> None:
    # original range: 4 decades -> minimum span 0.4 decades, margin 0.5 -> 0.2 decades each side
    p = refine_param(LAMBDA, [1e-3], margin=0.5)
    assert math.log10(p.low) == pytest.approx(-3.2) and math.log10(p.high) == pytest.approx(-2.8)


def test_linear_param_and_zero_margin() -> None:
    x = ParamSpace("x", "float", low=-10.0, high=10.0)
    p = refine_param(x, [1.0, 3.0], margin=0.25)
    assert (p.low, p.high) == pytest.approx((0.5, 3.5))
    assert (refine_param(x, [1.0, 3.0], margin=0.0).low, refine_param(x, [1.0, 3.0], 0.0).high) \
        == (1.0, 3.0)


def test_int_rounds_outwards_and_step_snaps_to_grid() -> None:
    n = ParamSpace("n", "int", low=1, high=20)
    p = refine_param(n, [10, 13], margin=0.5)  # 8.5 .. 14.5
    assert (p.low, p.high) == (8, 15) and isinstance(p.low, int)
    s = ParamSpace("b", "int", low=16, high=256, step=16)
    p = refine_param(s, [64, 96], margin=0.25)  # 56 .. 104 -> 48 .. 112
    assert (p.low, p.high) == (48, 112)


def test_categorical_keeps_seen_choices_in_order() -> None:
    o = ParamSpace("o", "categorical", choices=("sgd", "momentum", "adam"))
    assert refine_param(o, ["adam", "sgd", "adam"], 0.5).choices == ("sgd", "adam")
    assert refine_param(o, [], 0.5) == o


def test_top_k_by_direction() -> None:
    rows = [(0.5, {"a": 1}), (0.9, {"a": 2}), (0.7, {"a": 3}), (0.9, {"a": 4})]
    assert [r[1]["a"] for r in top_k(rows, 3, "maximize")] == [2, 4, 3]
    assert [r[1]["a"] for r in top_k(rows, 2, "minimize")] == [1, 3]


def test_refine_space_only_named_params_and_conditional_gaps() -> None:
    mom = ParamSpace("momentum", "float", low=0.0, high=1.0)
    space = (LAMBDA, mom, ParamSpace("x", "float", low=0.0, high=1.0))
    best = [(0.9, {"lambda": 1e-3, "x": 0.2}), (0.8, {"lambda": 1e-2, "x": 0.9})]
    out = refine_space(space, Refine("coarse", ("lambda", "momentum"), margin=0.0), best)
    assert out[0].low == pytest.approx(1e-3) and out[0].high == pytest.approx(1e-2)
    assert out[1] == mom  # no top trial sampled it: unchanged
    assert out[2] == space[2]  # not refined


def test_clip_config_for_enqueueing() -> None:
    space = (ParamSpace("x", "float", low=0.0, high=1.0),
             ParamSpace("o", "categorical", choices=("sgd",)))
    assert clip_config({"x": 1.7, "o": "adam", "gone": 1}, space) == {"x": 1.0}
    assert clip_config({"x": 0.3, "o": "sgd"}, space) == {"x": 0.3, "o": "sgd"}

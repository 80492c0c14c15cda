"""The score expression language and its 7.2 quirks (conscience.md §4)."""

import pytest

from oio.conscience.score_expr import ScoreExpr, ScoreExprError
from oio.sandbox.bootstrap import BEANSTALKD_EXPR, SCORE_EXPR, UPSTREAM_SCORE_EXPR

TAGS = {"stat.cpu": 90.0, "stat.io": 80.0, "stat.space": 50.0,
        "stat.jobs_ready": 8, "tag.loc": "abc"}


def test_sandbox_expressions():
    assert ScoreExpr(UPSTREAM_SCORE_EXPR).evaluate(TAGS) == pytest.approx(
        (90 * 80 * 50) ** (1 / 3))
    assert ScoreExpr(SCORE_EXPR).evaluate(TAGS) == pytest.approx(
        10 + 0.9 * (90 * 80 * 50) ** (1 / 3))
    # Saturated cores or disk: still selectable, at the lowest weight.
    assert ScoreExpr(SCORE_EXPR).evaluate(dict(TAGS, **{"stat.io": 0})) == 10
    assert ScoreExpr(BEANSTALKD_EXPR).evaluate(TAGS) == pytest.approx(
        (90 * 50 * 98) ** (1 / 3))
    assert ScoreExpr(SCORE_EXPR).evaluate(dict(TAGS, **{"stat.space": 0.5})) == 0


@pytest.mark.parametrize("expr, value", [
    ("3 > 3", 1.0),      # '>' means >=
    ("3 >= 3", 0.0),     # '>=' means >
    ("2 < 2", 1.0),
    ("2 <= 2", 0.0),
    ("1 == 1", 0.0),     # swapped
    ("1 != 1", 1.0),
    ("2 * 3 > 4", 0.0),  # one precedence, right-assoc: 2 * (3 >= 4)
    ("2 * 5 > 4", 2.0),
    ("100 - 5", 95.0),
    ("7 / 0", 0.0),
    ("root(2, 0)", 0.0),
    ("tag.loc", 3.0),    # a string used as a number is its length
])
def test_quirks(expr, value):
    assert ScoreExpr(expr).evaluate(TAGS) == value


@pytest.mark.parametrize("expr", ["100-5", "(1 + 2", "root(1)", "0.5"])
def test_syntax_errors(expr):
    with pytest.raises(ScoreExprError):
        ScoreExpr(expr)


def test_missing_tag_is_an_error():
    with pytest.raises(ScoreExprError):
        ScoreExpr("(num stat.nope)").evaluate(TAGS)


def test_deep_nesting_is_a_clean_error():
    with pytest.raises(ScoreExprError):
        ScoreExpr("(" * 5000 + "1" + ")" * 5000)

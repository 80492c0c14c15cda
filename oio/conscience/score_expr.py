"""The score expression language of the conscience (conscience.md §4).

A small lexer and recursive-descent parser building a closure tree; no
`eval`. The 7.2 quirks are reproduced so that scores match: swapped
comparison operators, one precedence level with right associativity,
`-<digit>` lexed as a negative literal, no decimals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

Tags = dict
Node = Callable[[Tags], float | str]


class ScoreExprError(ValueError):
    """The expression does not parse, or cannot be evaluated."""


_TOKEN = re.compile(r"""
    (?P<num>-?[1-9][0-9]*|0)
  | (?P<str>"[^"]*")
  | (?P<acc>(?:stat|tag)\.[A-Za-z0-9_.\-]*[A-Za-z0-9_])
  | (?P<word>num|root)
  | (?P<op><=|>=|==|!=|<N>|[-+*/<>(),])
""", re.VERBOSE)

# The lexer of 7.2 swaps these: '>' means '>=', '>=' means '>', etc.
_COMPARE = {
    ">": lambda a, b: float(a >= b),
    "<": lambda a, b: float(a <= b),
    ">=": lambda a, b: float(a > b),
    "<=": lambda a, b: float(a < b),
    "==": lambda a, b: float(a != b),
    "!=": lambda a, b: float(a == b),
    "<N>": lambda a, b: float((a > b) - (a < b)),
}
_ARITH = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else 0.0,
}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        match = _TOKEN.match(text, pos)
        if match is None:
            pos += 1          # unknown characters are ignored
            continue
        kind = match.lastgroup or ""
        tokens.append((kind, match.group()))
        pos = match.end()
    return tokens


def _tag_text(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:f}"
    return str(value)


def _to_number(value) -> float:
    if isinstance(value, str):
        match = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value)
        return float(match.group()) if match else 0.0
    return float(value)


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ScoreExprError(f"expected {value or 'a term'}, got "
                                 f"{token[1] if token else 'the end'}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise ScoreExprError(f"unexpected {self.peek()[1]!r}")
        return node

    def expr(self) -> Node:
        left = self.term()
        token = self.peek()
        if token and token[0] == "op" and (token[1] in _ARITH
                                           or token[1] in _COMPARE):
            self.pos += 1
            right = self.expr()        # one level, right-associative
            func = _ARITH.get(token[1]) or _COMPARE[token[1]]
            return lambda tags: func(_num(left(tags)), _num(right(tags)))
        return left

    def term(self) -> Node:
        kind, value = self.take()
        if kind == "num":
            number = float(value)
            return lambda tags: number
        if kind == "str":
            text = value[1:-1]
            return lambda tags: text
        if kind == "acc":
            return _accessor(value)
        if value == "num":
            inner = self.term()
            return lambda tags: _to_number(inner(tags))
        if value == "root":
            self.take("(")
            degree = self.expr()
            self.take(",")
            base = self.expr()
            self.take(")")
            return lambda tags: _root(_num(degree(tags)), _num(base(tags)))
        if value == "(":
            inner = self.expr()
            self.take(")")
            return inner
        raise ScoreExprError(f"unexpected {value!r}")


def _accessor(name: str) -> Node:
    def read(tags: Tags):
        if name not in tags:
            raise ScoreExprError(f"missing tag {name}")
        return _tag_text(tags[name])
    return read


def _num(value) -> float:
    # A string used as a number (accessor without `num`) is its length.
    return float(len(value)) if isinstance(value, str) else value


def _root(degree: float, base: float) -> float:
    if degree == 0:
        raise ScoreExprError("root of degree 0")
    if base == 0:
        return 0.0
    if base < 0:
        return math.nan
    return base ** (1.0 / degree)


class ScoreExpr:
    """A compiled expression: `ScoreExpr(text).evaluate(tags) -> float`."""

    def __init__(self, text: str):
        self.text = text
        try:
            self._node = _Parser(text).parse()
        except RecursionError:
            raise ScoreExprError("expression nested too deeply") from None

    def evaluate(self, tags: Tags) -> float:
        try:
            return _num(self._node(tags))
        except (ArithmeticError, TypeError, RecursionError) as exc:
            raise ScoreExprError(str(exc)) from exc

"""A small, safe expression language for derived columns (no Python eval).

    expr    := compare
    compare := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := "-" unary | power
    power   := atom ("^" unary)?
    atom    := number | column | `quoted column` | func "(" expr ("," expr)* ")" | "(" expr ")"

Functions: log, log1p, exp, sqrt, abs, clip(x, low, high), min(a, b), max(a, b).
Comparisons give 1.0 or 0.0. Columns are read as floats. An expression is at most
`MAX_LENGTH` characters and nests at most `MAX_DEPTH` levels (parentheses, calls, unary minus
signs and `^` chains all count), so no input can exhaust the parser's recursion.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

FUNCTIONS: dict[str, tuple[int, Callable[..., np.ndarray]]] = {
    "log": (1, np.log),
    "log1p": (1, np.log1p),
    "exp": (1, np.exp),
    "sqrt": (1, np.sqrt),
    "abs": (1, np.abs),
    "clip": (3, np.clip),
    "min": (2, np.minimum),
    "max": (2, np.maximum),
}
Operand = np.ndarray | float
"""A column's values, or a number."""
COMPARISONS: dict[str, Callable[[Operand, Operand], np.ndarray]] = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
    "==": np.equal, "!=": np.not_equal,
}
ARITHMETIC: dict[str, Callable[[Operand, Operand], np.ndarray]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power,
}
MAX_LENGTH = 2_000
"""Longest expression accepted, in characters."""
MAX_DEPTH = 40
"""Deepest nesting accepted: parentheses, function calls, unary minus signs and `^` chains."""
_TOKEN = re.compile(r"\s*(?:(?P<number>\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)|(?P<name>[A-Za-z_]\w*)|"
                    r"`(?P<quoted>[^`]+)`|(?P<op><=|>=|==|!=|[-+*/^(),<>]))")


class ExpressionError(ValueError):
    """A bad expression; the message gives the position."""


@dataclass(frozen=True)
class Node:
    kind: str  # "number", "column", "call", "binary", "negate"
    value: object = None
    children: tuple[Node, ...] = ()


def _tokens(text: str) -> list[tuple[str, str, int]]:
    found, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise ExpressionError(f"unexpected {text[position:].strip()[0]!r} at position {position}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    found.append(("end", "", len(text)))
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_LENGTH:
            raise ExpressionError(f"expression is {len(text):,} characters long; the limit is {MAX_LENGTH:,}")
        self.tokens = _tokens(text)
        self.index = 0
        self.depth = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.index]

    def take(self, op: str | None = None) -> tuple[str, str, int]:
        token = self.tokens[self.index]
        if op is not None and (token[0] != "op" or token[1] != op):
            raise ExpressionError(f"expected {op!r} at position {token[2]}")
        self.index += 1
        return token

    def parse(self) -> Node:
        node = self.compare()
        kind, text, position = self.peek()
        if kind != "end":
            raise ExpressionError(f"unexpected {text!r} at position {position}")
        return node

    def compare(self) -> Node:
        node = self.sum()
        kind, text, _ = self.peek()
        if kind == "op" and text in COMPARISONS:
            self.take()
            node = Node("binary", text, (node, self.sum()))
        return node

    def sum(self) -> Node:
        node = self.product()
        while self.peek()[0] == "op" and self.peek()[1] in "+-":
            op = self.take()[1]
            node = Node("binary", op, (node, self.product()))
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in "*/":
            op = self.take()[1]
            node = Node("binary", op, (node, self.unary()))
        return node

    def unary(self) -> Node:
        """Every level of nesting passes here (a parenthesis, a call's argument, a minus sign, a `^`)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"expression nests deeper than {MAX_DEPTH} levels at position {self.peek()[2]}")
        try:
            if self.peek()[:2] == ("op", "-"):
                self.take()
                return Node("negate", None, (self.unary(),))
            return self.power()
        finally:
            self.depth -= 1

    def power(self) -> Node:
        node = self.atom()
        if self.peek()[:2] == ("op", "^"):
            self.take()
            node = Node("binary", "^", (node, self.unary()))
        return node

    def atom(self) -> Node:
        kind, text, position = self.take()
        if kind == "number":
            return Node("number", float(text))
        if kind == "quoted":
            return Node("column", text)
        if kind == "name":
            if self.peek()[:2] == ("op", "("):
                if text not in FUNCTIONS:
                    raise ExpressionError(f"unknown function {text!r} at position {position}; "
                                          f"known: {', '.join(sorted(FUNCTIONS))}")
                self.take("(")
                args = [self.compare()]
                while self.peek()[:2] == ("op", ","):
                    self.take()
                    args.append(self.compare())
                self.take(")")
                arity = FUNCTIONS[text][0]
                if len(args) != arity:
                    raise ExpressionError(f"{text}() takes {arity} argument(s) at position {position}")
                return Node("call", text, tuple(args))
            return Node("column", text)
        if (kind, text) == ("op", "("):
            node = self.compare()
            self.take(")")
            return node
        raise ExpressionError(f"unexpected {text or 'end of expression'!r} at position {position}")


def parse(text: str) -> Node:
    return _Parser(text).parse()


def columns_of(node: Node) -> set[str]:
    found = {str(node.value)} if node.kind == "column" else set()
    for child in node.children:
        found |= columns_of(child)
    return found


def evaluate(node: Node, frame: pd.DataFrame) -> np.ndarray:
    """Evaluate on a frame; division by zero and log of negatives give NaN or inf, later imputed."""
    with np.errstate(all="ignore"):
        return np.asarray(_evaluate(node, frame), dtype=float)


def _evaluate(node: Node, frame: pd.DataFrame) -> Operand:
    if node.kind == "number":
        return float(node.value)  # type: ignore[arg-type]
    if node.kind == "column":
        if node.value not in frame.columns:
            raise ExpressionError(f"unknown column {node.value!r}")
        return pd.to_numeric(frame[node.value], errors="coerce").to_numpy(dtype=float)
    if node.kind == "negate":
        return -_evaluate(node.children[0], frame)  # type: ignore[operator]
    args = [_evaluate(child, frame) for child in node.children]
    if node.kind == "call":
        return FUNCTIONS[str(node.value)][1](*args)
    op = str(node.value)
    if op in COMPARISONS:
        return COMPARISONS[op](args[0], args[1]).astype(float)
    return ARITHMETIC[op](args[0], args[1])

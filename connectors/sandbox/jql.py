"""A small real JQL parser: the clauses Pilot Gate sends, AND/OR/NOT, parentheses; ORDER BY parsed and ignored.

Unsupported syntax is refused with the message Jira would give, never silently matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol

_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|=|~|\(|\)|,)|(?P<word>[^\s=!~(),"']+))""")
KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
FIELDS = {
    "issuetype": "issuetype", "type": "issuetype", "labels": "labels", "parent": "parent",
    "key": "key", "issuekey": "key", "issue": "key", "id": "key", "project": "project",
    "status": "status", "statuscategory": "statusCategory", "assignee": "assignee",
}


class JqlError(Exception):
    """The query cannot be run; the message is what Jira puts in errorMessages."""


class Index(Protocol):
    """What clauses need from the issue store to match and to narrow candidates."""

    children: dict[str, list[str]]
    by_label: dict[str, set[str]]

    def resolve_key(self, key_or_id: str) -> str | None: ...
    def category_of(self, issue: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class Token:
    kind: str  # str | op | word
    text: str

    def keyword(self) -> str | None:
        return self.text.lower() if self.kind == "word" and self.text.lower() in KEYWORDS else None


@dataclass(frozen=True)
class Node:
    """A compiled condition: `match(issue)` decides, `candidates()` narrows (None = every issue)."""

    match: Callable[[dict[str, Any]], bool]
    candidates: Callable[[], set[str] | None]


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        found = _TOKEN.match(text, pos)
        if not found or found.end() == pos:
            raise JqlError(f"Error in the JQL Query: The character '{text[pos]}' is a reserved JQL character "
                           f"(line 1, character {pos + 1}).")
        kind = found.lastgroup or "word"
        value = found.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append(Token(kind, value))
        pos = found.end()
    return tokens


class Parser:
    def __init__(self, text: str, index: Index) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.index = index

    def parse(self) -> Node:
        if not self.tokens or self._peek_keyword() == "order":
            raise JqlError("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
        node = self._or()
        if self._peek_keyword() == "order":
            self._order_by()
        if self.pos < len(self.tokens):
            raise JqlError(f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got "
                           f"'{self.tokens[self.pos].text}'.")
        return node

    def _peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _peek_keyword(self) -> str | None:
        token = self._peek()
        return token.keyword() if token else None

    def _next(self, expecting: str) -> Token:
        token = self._peek()
        if token is None:
            raise JqlError(f"Error in the JQL Query: Expecting {expecting} but reached the end of the query.")
        self.pos += 1
        return token

    def _expect_op(self, op: str) -> None:
        token = self._next(f"'{op}'")
        if token.kind != "op" or token.text != op:
            raise JqlError(f"Error in the JQL Query: Expecting '{op}' but got '{token.text}'.")

    def _or(self) -> Node:
        parts = [self._and()]
        while self._peek_keyword() == "or":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else _any(parts)

    def _and(self) -> Node:
        parts = [self._not()]
        while self._peek_keyword() == "and":
            self.pos += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else _all(parts)

    def _not(self) -> Node:
        if self._peek_keyword() == "not":
            self.pos += 1
            inner = self._not()
            return Node(lambda issue: not inner.match(issue), lambda: None)
        token = self._peek()
        if token and token.kind == "op" and token.text == "(":
            self.pos += 1
            node = self._or()
            self._expect_op(")")
            return node
        return self._clause()

    def _clause(self) -> Node:
        token = self._next("a field name")
        if token.kind == "op" or token.keyword():
            raise JqlError(f"Error in the JQL Query: Expecting a field name but got '{token.text}'.")
        field = FIELDS.get(token.text.lower())
        if field is None:
            raise JqlError(f"Field '{token.text}' does not exist or you do not have permission to view it.")
        operator = self._operator()
        if operator in ("in", "not in"):
            values = self._list()
        elif operator in ("is", "is not"):
            word = self._next("EMPTY or NULL")
            if word.keyword() not in ("empty", "null"):
                raise JqlError(f"Error in the JQL Query: Expecting 'EMPTY' or 'NULL' but got '{word.text}'.")
            values = [None]
        else:
            values = [self._value()]
        return self._compile(field, operator, values)

    def _operator(self) -> str:
        token = self._next("an operator")
        word = token.keyword()
        if token.kind == "op" and token.text in ("=", "!="):
            return token.text
        if token.kind == "op" and token.text == "~":
            raise JqlError("The operator '~' is not supported by this sandbox; use '=' or 'in'.")
        if word == "in":
            return "in"
        if word in ("not", "is"):
            if self._peek_keyword() == ("in" if word == "not" else "not"):
                self.pos += 1
                return "not in" if word == "not" else "is not"
            if word == "is":
                return "is"
        raise JqlError(f"Error in the JQL Query: Expecting operator but got '{token.text}'. Valid operators "
                       "are '=', '!=', 'in', 'not in', 'is' and 'is not'.")

    def _value(self) -> str:
        token = self._next("a value")
        if token.kind == "op" or token.keyword():
            raise JqlError(f"Error in the JQL Query: Expecting either a value, list or function but got "
                           f"'{token.text}'.")
        return token.text

    def _list(self) -> list[str]:
        self._expect_op("(")
        values = [self._value()]
        while True:
            token = self._next("',' or ')'")
            if token.kind == "op" and token.text == ")":
                return values
            if token.kind != "op" or token.text != ",":
                raise JqlError(f"Error in the JQL Query: Expecting ',' or ')' but got '{token.text}'.")
            values.append(self._value())

    def _order_by(self) -> None:
        self.pos += 1
        if self._peek_keyword() != "by":
            raise JqlError("Error in the JQL Query: Expecting 'by' after 'order'.")
        self.pos += 1
        while True:
            self._value()
            if self._peek_keyword() in ("asc", "desc"):
                self.pos += 1
            token = self._peek()
            if not (token and token.kind == "op" and token.text == ","):
                return
            self.pos += 1

    def _compile(self, field: str, operator: str, values: list[str | None]) -> Node:
        index = self.index
        if field in ("key", "parent"):
            values = [index.resolve_key(v) if v else None for v in values]
        getter = _getter(field, index)
        wanted = {_norm(v, field) for v in values}
        if field == "labels":
            match = lambda issue: bool(wanted & set(issue["labels"] or [None]))  # noqa: E731
        else:
            match = lambda issue: _norm(getter(issue), field) in wanted  # noqa: E731
        if operator in ("!=", "not in", "is not"):
            positive = match
            match = lambda issue: not positive(issue)  # noqa: E731
            return Node(match, lambda: None)
        return Node(match, lambda: _candidates(field, values, index))


_CATEGORY_NAMES = {"to do": "new", "in progress": "indeterminate", "2": "new", "4": "indeterminate", "3": "done"}
_CASE_BLIND = {"issuetype", "status", "statusCategory"}


def _norm(value: Any, field: str) -> Any:
    if not isinstance(value, str) or field not in _CASE_BLIND:
        return value
    value = value.lower()
    return _CATEGORY_NAMES.get(value, value) if field == "statusCategory" else value


def _getter(field: str, index: Index) -> Callable[[dict[str, Any]], Any]:
    if field == "statusCategory":
        return index.category_of
    return lambda issue: issue[field]


def _candidates(field: str, values: list[str | None], index: Index) -> set[str] | None:
    if None in values:
        return None
    if field == "key":
        return {v for v in values if v}
    if field == "parent":
        return {child for v in values for child in index.children.get(v, ())}
    if field == "labels":
        return {key for v in values for key in index.by_label.get(v, ())}
    return None


def _all(parts: list[Node]) -> Node:
    def candidates() -> set[str] | None:
        sets = [s for s in (p.candidates() for p in parts) if s is not None]
        return set.intersection(*sets) if sets else None

    return Node(lambda issue: all(p.match(issue) for p in parts), candidates)


def _any(parts: list[Node]) -> Node:
    def candidates() -> set[str] | None:
        sets = [p.candidates() for p in parts]
        return None if any(s is None for s in sets) else set().union(*sets)

    return Node(lambda issue: any(p.match(issue) for p in parts), candidates)


def compile_jql(text: str, index: Index) -> Node:
    """Parse `text` into a Node, or raise JqlError with Jira's wording."""
    if not isinstance(text, str):
        raise JqlError("The JQL query must be a string.")
    return Parser(text, index).parse()

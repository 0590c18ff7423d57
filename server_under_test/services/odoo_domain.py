"""Odoo-style partner domain filters: parsed safely, compiled to SQLAlchemy.

A gateway phone (and a segment) may carry a ``domain_filter`` such as
``[("country_id.code", "=", "CZ")]``. The text is read with ``json.loads`` or
``ast.literal_eval`` (never ``eval``), turned into a small tree of frozen nodes and compiled to
a boolean expression over the ``partner`` table::

    domain = parse_domain("[('customer_rank', '>', 0), ('opt_out', '=', False)]")
    conn.execute(select(partner.c.id).where(compile_domain(domain)))

Syntax and semantics follow Odoo: terms in Polish prefix notation with ``'&'``, ``'|'``,
``'!'``; terms left over are AND-ed as by ``normalize_domain``; ``= False`` means "not set";
``!=``, ``not in`` and ``not like`` include rows where the column is NULL. Every compiled
leaf is two-valued (never SQL NULL), so ``'!'`` is the plain complement of its operand.
"""

from __future__ import annotations

import ast
import json
import operator as op_
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeAlias

from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, true

from ..errors import InvalidDomain
from ..storage.tables import MAX_ID, blacklist, partner, partner_category, partner_category_rel
from .dbutil import LIKE_ESCAPE, contains_pattern

__all__ = [
    "FALSE",
    "SUPPORTED_FIELDS",
    "SUPPORTED_OPERATORS",
    "TRUE",
    "And",
    "Constant",
    "Domain",
    "Leaf",
    "Not",
    "Or",
    "Scalar",
    "Value",
    "compile_domain",
    "format_domain",
    "parse_domain",
    "validate_domain",
]

Scalar: TypeAlias = "bool | int | float | str | None"
Value: TypeAlias = "Scalar | tuple[Scalar, ...]"
_Kind = Literal["int", "str", "bool", "datetime"]

SUPPORTED_OPERATORS = (
    "=", "!=", "<", "<=", ">", ">=", "in", "not in",
    "like", "not like", "ilike", "not ilike", "=like", "=ilike",
)  # fmt: skip
_ALIASES = {"==": "=", "<>": "!="}
_ARITY = {"&": 2, "|": 2, "!": 1}
_POSITIVE = {"!=": "=", "not in": "in", "not like": "like", "not ilike": "ilike"}
_LIKE = ("like", "ilike", "=like", "=ilike")
_ORDERED = frozenset({"=", "!=", "<", "<=", ">", ">=", "in", "not in"})
_KIND_OPERATORS: dict[_Kind, frozenset[str]] = {
    "int": _ORDERED,
    "datetime": _ORDERED,
    "str": frozenset(SUPPORTED_OPERATORS),
    "bool": frozenset({"=", "!=", "in", "not in"}),
}
_EXPECTED = {
    "int": "an integer",
    "str": "a string",
    "bool": "True or False",
    "datetime": "an ISO date or datetime string such as '2026-01-01' or '2026-01-01 10:00:00'",
}
_TYPES = {"str": str, "bool": bool, "int": int, "datetime": str}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": op_.eq, "<": op_.lt, "<=": op_.le, ">": op_.gt, ">=": op_.ge,
}  # fmt: skip
_SCALAR_FIELDS: dict[str, tuple[Any, _Kind]] = {
    "id": (partner.c.id, "int"),
    "name": (partner.c.name, "str"),
    "phone": (partner.c.phone, "str"),
    "mobile": (partner.c.mobile, "str"),
    "email": (partner.c.email, "str"),
    "is_company": (partner.c.is_company, "bool"),
    "customer_rank": (partner.c.customer_rank, "int"),
    "create_date": (partner.c.create_date, "datetime"),
    "country_id.code": (partner.c.country_code, "str"),
    "country_id.name": (partner.c.country_name, "str"),
    "state_id.name": (partner.c.region, "str"),
    "state_id.code": (partner.c.region_code, "str"),
}
_SPECIAL_FIELDS = ("category_id", "category_id.name", "phone_sanitized_blacklisted", "opt_out")
SUPPORTED_FIELDS = (*_SCALAR_FIELDS, *_SPECIAL_FIELDS)
# Deep nesting would overflow Python's recursion in compilation; real filters are shallow.
_MAX_DEPTH = 100


@dataclass(frozen=True)
class Leaf:
    """One ``(path, operator, value)`` term; ``term`` is its 1-based place in the source."""

    path: str
    operator: str
    value: Value
    term: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Constant:
    """The constant terms ``(1, '=', 1)`` (true) and ``(0, '=', 1)`` (false)."""

    value: bool


@dataclass(frozen=True)
class And:
    """All children match (``'&'``, also the implicit join of consecutive terms)."""

    children: tuple[Domain, ...]


@dataclass(frozen=True)
class Or:
    """At least one child matches (``'|'``)."""

    children: tuple[Domain, ...]


@dataclass(frozen=True)
class Not:
    """The operand does not match (``'!'``)."""

    operand: Domain


Domain: TypeAlias = "Leaf | Constant | And | Or | Not"
TRUE = Constant(True)
FALSE = Constant(False)

_LITERAL_NODES = (ast.Expression, ast.Constant, ast.List, ast.Tuple, ast.Load, ast.USub, ast.UAdd)
_HINT = "a domain is a list of terms such as [('name', '=', 'Alice')]"


def parse_domain(source: str | list[Any] | tuple[Any, ...] | None) -> Domain:
    """Parse a domain given as text (Python or JSON literal) or as a list; empty matches all.

    Raises ``InvalidDomain`` for bad syntax and also for unknown fields, operators or
    value types, so a parsed domain always compiles.
    """
    tokens = _load(source) if isinstance(source, str) else source
    if tokens is None:
        return TRUE
    if not isinstance(tokens, list | tuple):
        raise InvalidDomain(
            f"The domain must be a list of terms, not {type(tokens).__name__} "
            f"{_short(repr(tokens))}; {_HINT}."
        )
    # Prefix notation read right to left: the stack holds, top first, the complete
    # expressions that follow the current token.
    stack: list[tuple[Domain, int]] = []
    for index in range(len(tokens), 0, -1):
        item = tokens[index - 1]
        if isinstance(item, list | tuple):
            stack.append((_leaf(item, index), 0))
            continue
        arity = _ARITY.get(item) if isinstance(item, str) else None
        if arity is None:
            raise InvalidDomain(
                f"Term {index} {_short(repr(item))} is neither an operator ('&', '|', '!') "
                f"nor a (field, operator, value) triple; {_HINT}."
            )
        if len(stack) < arity:
            raise InvalidDomain(
                f"Operator {item!r} in term {index} needs {arity} operand(s) but only "
                f"{len(stack)} follow(s) it; write it in prefix form, "
                + ("['!', A]." if arity == 1 else f"[{item!r}, A, B].")
            )
        operands = [stack.pop() for _ in range(arity)]
        node: Domain
        if arity == 1:
            node, depth = Not(operands[0][0]), operands[0][1] + 1
        else:
            node, depth = _combine(And if item == "&" else Or, operands)
        if depth > _MAX_DEPTH:
            raise InvalidDomain(
                f"The domain nests operators more than {_MAX_DEPTH} levels deep at term "
                f"{index}; simplify it."
            )
        stack.append((node, depth))
    if not stack:
        return TRUE
    if len(stack) == 1:
        return stack[0][0]
    return _combine(And, list(reversed(stack)))[0]


def compile_domain(domain: Domain) -> ColumnElement[bool]:
    """Compile a parsed domain to a boolean expression over the ``partner`` table."""
    if isinstance(domain, Leaf):
        return _compile_leaf(domain)
    if isinstance(domain, Constant):
        return true() if domain.value else false()
    if isinstance(domain, Not):
        return not_(compile_domain(domain.operand))
    if isinstance(domain, And):
        return and_(true(), *(compile_domain(child) for child in domain.children))
    return or_(false(), *(compile_domain(child) for child in domain.children))


def format_domain(domain: Domain) -> str:
    """The canonical text of a domain: Python literal syntax, top-level AND left implicit."""
    if domain == TRUE:
        return "[]"
    top = domain.children if isinstance(domain, And) else (domain,)
    return "[" + ", ".join(token for node in top for token in _tokens(node)) + "]"


def validate_domain(source: str | list[Any] | tuple[Any, ...] | None) -> str:
    """Parse and compile a domain (to reject it at save time); return its canonical text."""
    domain = parse_domain(source)
    compile_domain(domain)
    return format_domain(domain)


def _combine(kind: type[And] | type[Or], operands: list[tuple[Domain, int]]) -> tuple[Domain, int]:
    # '&' and '|' are associative, so nested chains are flattened: a long implicit AND then
    # costs no depth.
    children: list[Domain] = []
    depth = 0
    for node, node_depth in operands:
        if isinstance(node, kind):
            children.extend(node.children)
            depth = max(depth, node_depth)
        else:
            children.append(node)
            depth = max(depth, node_depth + 1)
    return kind(tuple(children)), depth


def _leaf(token: list[Any] | tuple[Any, ...], index: int) -> Domain:
    shown = _short(repr(tuple(token)))
    if len(token) != 3:
        raise InvalidDomain(
            f"Term {index} {shown} has {len(token)} element(s); a term must be a "
            "(field, operator, value) triple such as ('name', '=', 'Alice')."
        )
    path, operator, value = token
    if operator == "=" and value == 1 and path in (0, 1) and _is_int(path) and _is_int(value):
        return Constant(path == 1)
    if not isinstance(path, str):
        raise InvalidDomain(
            f"Term {index} {shown} has the field {path!r}, which is not a string; write "
            "a field name such as 'name' (only the constant terms (1, '=', 1) and "
            "(0, '=', 1) use numbers)."
        )
    if isinstance(operator, str):
        operator = _ALIASES.get(operator.lower(), operator.lower())
    items = tuple(value) if isinstance(value, list | tuple) else (value,)
    if not all(_is_scalar(item) for item in items):
        raise InvalidDomain(
            f"The value {_short(repr(value))} in term {index} {shown} is not supported; use "
            "a string, a number, True/False/None or a list of those."
        )
    leaf = Leaf(path, operator, items if isinstance(value, list | tuple) else value, index)
    _compile_leaf(leaf)  # reject unknown fields and badly typed values while positions are known
    return leaf


def _compile_leaf(leaf: Leaf) -> ColumnElement[bool]:
    if leaf.operator not in SUPPORTED_OPERATORS:
        raise InvalidDomain(
            f"Unknown operator {leaf.operator!r} in {_where(leaf)}; supported operators: "
            f"{', '.join(repr(o) for o in SUPPORTED_OPERATORS)}."
        )
    scalar = _SCALAR_FIELDS.get(leaf.path)
    if scalar is not None:
        return _scalar(leaf, scalar[0], scalar[1], leaf.operator, leaf.value)
    if leaf.path in ("category_id", "category_id.name"):
        return _category(leaf, leaf.operator, leaf.value)
    if leaf.path in ("phone_sanitized_blacklisted", "opt_out"):
        return _blacklisted(leaf)
    raise InvalidDomain(
        f"Unknown field {leaf.path!r} in {_where(leaf)}; supported fields: "
        f"{', '.join(SUPPORTED_FIELDS)}."
    )


def _scalar(leaf: Leaf, col: Any, kind: _Kind, op: str, value: Value) -> ColumnElement[bool]:
    if op not in _KIND_OPERATORS[kind]:
        raise InvalidDomain(
            f"Operator {op!r} cannot be used on the {kind} field {leaf.path!r} in "
            f"{_where(leaf)}; use one of {', '.join(sorted(_KIND_OPERATORS[kind]))}."
        )
    if op in _POSITIVE:
        return not_(_scalar(leaf, col, kind, _POSITIVE[op], value))
    if op == "in":
        values = value if isinstance(value, tuple) else (value,)
        has_unset = kind != "bool" and any(_is_unset(v) for v in values)
        real = [_coerce(leaf, kind, v) for v in values if kind == "bool" or not _is_unset(v)]
        parts = [_guard(col, col.in_(real))] if real else []
        if has_unset:
            parts.append(_unset(col, kind))
        return or_(false(), *parts)
    if isinstance(value, tuple):
        raise InvalidDomain(
            f"Operator {op!r} in {_where(leaf)} needs a single value, not a list; use 'in' "
            "to match any of several values."
        )
    if _is_unset(value) and kind != "bool":
        if op != "=":
            raise InvalidDomain(
                f"Operator {op!r} in {_where(leaf)} cannot compare with {value!r}; False and "
                "None ('not set') work only with '=', '!=', 'in' and 'not in'."
            )
        return _unset(col, kind)
    target = _coerce(leaf, kind, value)
    if op in _LIKE:
        pattern = target if op.startswith("=") else contains_pattern(target)
        # An explicit ESCAPE makes backslash behave as PostgreSQL's default on SQLite too.
        if op.endswith("ilike"):
            return _guard(col, col.ilike(pattern, escape=LIKE_ESCAPE))
        return _guard(col, col.like(pattern, escape=LIKE_ESCAPE))
    if kind == "datetime" and op in (">", "<=") and _is_date(value):
        # A bare date means the whole day: Odoo ends '> d' and '<= d' at d's last moment.
        op, target = (">=" if op == ">" else "<"), target + timedelta(days=1)
    result: ColumnElement[bool] = _guard(col, _COMPARE[op](col, target))
    return result


def _category(leaf: Leaf, op: str, value: Value) -> ColumnElement[bool]:
    if op in _POSITIVE:  # "no category matches", not "some category does not match"
        return not_(_category(leaf, _POSITIVE[op], value))
    rel = partner_category_rel.c
    if leaf.path == "category_id.name":
        name = _scalar(leaf, partner_category.c.name, "str", op, value)
        match = and_(rel.category_id == partner_category.c.id, name)
    elif op in ("=", "in"):
        match = _scalar(leaf, rel.category_id, "int", op, value)
    else:
        raise InvalidDomain(
            f"Operator {leaf.operator!r} cannot be used on the many2many field 'category_id' in "
            f"{_where(leaf)}; use '=', '!=', 'in' or 'not in' with category ids."
        )
    some = exists().where(rel.partner_id == partner.c.id, match)
    values = value if isinstance(value, tuple) else (value,)
    # Both columns are required, so "not set" can only mean "the partner has no category".
    if op in ("=", "in") and any(_is_unset(v) for v in values):
        return or_(some, not_(exists().where(rel.partner_id == partner.c.id)))
    return some


def _blacklisted(leaf: Leaf) -> ColumnElement[bool]:
    value = False if leaf.value is None else leaf.value
    if leaf.operator not in ("=", "!=") or not isinstance(value, bool):
        raise InvalidDomain(
            f"The computed field {leaf.path!r} in {_where(leaf)} supports only '=' and '!=' "
            "with True or False."
        )
    listed = exists().where(
        or_(blacklist.c.number == partner.c.mobile_e164, blacklist.c.number == partner.c.phone_e164)
    )
    return listed if value == (leaf.operator == "=") else not_(listed)


def _guard(col: Any, expr: ColumnElement[bool]) -> ColumnElement[bool]:
    # Keeps the leaf two-valued: a NULL column gives FALSE instead of SQL NULL, so that a
    # surrounding NOT includes NULL rows, as Odoo's negative operators do.
    return and_(col.is_not(None), expr) if col.nullable else expr


def _unset(col: Any, kind: _Kind) -> ColumnElement[bool]:
    if kind == "str":
        return or_(col.is_(None), col == "")
    result: ColumnElement[bool] = col.is_(None)
    return result


def _coerce(leaf: Leaf, kind: _Kind, value: Scalar) -> Any:
    if kind == "bool" and value is None:
        return False
    if kind == "datetime" and isinstance(value, str):
        with suppress(ValueError):
            when = datetime.fromisoformat(value.strip())
            # Stored timestamps are naive UTC.
            return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when
    elif kind == "int" and _is_int(value):
        assert isinstance(value, int)
        if not -MAX_ID - 1 <= value <= MAX_ID:
            # Stored, such a filter would make every later enqueue fail on PostgreSQL.
            raise InvalidDomain(
                f"Field {leaf.path!r} in {_where(leaf)} compares with {value}, outside the "
                f"integers the database holds ({-MAX_ID - 1} to {MAX_ID})."
            )
        return value
    elif kind != "int" and isinstance(value, _TYPES[kind]):
        return value
    raise InvalidDomain(
        f"Field {leaf.path!r} in {_where(leaf)} expects {_EXPECTED[kind]}, not "
        f"{type(value).__name__} {_short(repr(value))}."
    )


def _load(text: str) -> object:
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        pass  # not JSON: try a Python literal, whose errors are the ones reported
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        raise InvalidDomain(
            f"The domain cannot be parsed: {exc.msg} at line {exc.lineno or 1}, column "
            f'{exc.offset or 1}; {_HINT} (Python) or [["name", "=", "Alice"]] (JSON).'
        ) from None
    except ValueError as exc:
        raise InvalidDomain(f"The domain cannot be parsed: {exc}; {_HINT}.") from None
    except (RecursionError, MemoryError):
        raise InvalidDomain(f"The domain is nested too deeply to be parsed; {_HINT}.") from None
    for node in ast.walk(tree):
        if isinstance(node, _LITERAL_NODES) or (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub | ast.UAdd)
            and isinstance(node.operand, ast.Constant)
        ):
            continue
        # Operator nodes have no position, but ast.walk reaches their parent expression first.
        lineno, offset = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
        line = stripped.splitlines()[lineno - 1]
        column = len(line.encode()[:offset].decode(errors="replace")) + 1
        segment = ast.get_source_segment(stripped, node) or type(node).__name__
        json_hint = " (JSON's true/false/null cannot be mixed with Python syntax)"
        raise InvalidDomain(
            f"The domain is not a plain literal: {_short(segment)!r} at line {lineno}, column "
            f"{column} is not allowed{json_hint if segment in ('true', 'false', 'null') else ''}"
            "; only strings, numbers, True/False/None, lists and tuples may appear."
        )
    try:
        return ast.literal_eval(tree)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as exc:
        raise InvalidDomain(f"The domain cannot be read as a literal: {exc}; {_HINT}.") from None


def _tokens(node: Domain) -> list[str]:
    if isinstance(node, Leaf):
        return [_leaf_text(node)]
    if isinstance(node, Constant):
        return ["(1, '=', 1)" if node.value else "(0, '=', 1)"]
    if isinstance(node, Not):
        return ["'!'", *_tokens(node.operand)]
    symbol = "'&'" if isinstance(node, And) else "'|'"
    children = [token for child in node.children for token in _tokens(child)]
    return [symbol] * (len(node.children) - 1) + children


def _leaf_text(leaf: Leaf) -> str:
    value = list(leaf.value) if isinstance(leaf.value, tuple) else leaf.value
    return repr((leaf.path, leaf.operator, value))


def _where(leaf: Leaf) -> str:
    shown = _short(_leaf_text(leaf))
    return f"term {leaf.term} {shown}" if leaf.term else f"term {shown}"


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _is_date(value: object) -> bool:
    try:
        date.fromisoformat(str(value).strip())
    except ValueError:
        return False
    return True


def _is_unset(value: object) -> bool:
    return value is None or value is False

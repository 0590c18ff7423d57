"""Small helpers over SQLAlchemy Core that differ by dialect."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

__all__ = [
    "LIKE_ESCAPE",
    "bulk_insert",
    "chunks",
    "claim",
    "contains_pattern",
    "insert_ignoring_conflicts",
    "xact_lock",
]

T = TypeVar("T")

# LIKE / ILIKE patterns built from user text escape its wildcards with this character
# (pass ``escape=LIKE_ESCAPE``), so "100%" and "a_b" match only themselves.
LIKE_ESCAPE = "\\"
_LIKE_ESCAPES = str.maketrans(
    {LIKE_ESCAPE: LIKE_ESCAPE * 2, "%": LIKE_ESCAPE + "%", "_": LIKE_ESCAPE + "_"}
)


def contains_pattern(text: str) -> str:
    """A LIKE pattern (``escape=LIKE_ESCAPE``) matching any value that contains ``text``."""
    return f"%{text.translate(_LIKE_ESCAPES)}%"


# Well below SQLite's 32 766 bound variables and PostgreSQL's 65 535.
CHUNK = 5000


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _on_conflict_do_nothing(conn: Connection, table: Table, conflict: Sequence[str]) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=list(conflict))


def insert_ignoring_conflicts(
    conn: Connection, table: Table, rows: Iterable[dict[str, Any]], conflict: Sequence[str]
) -> None:
    """Insert rows, silently skipping those that collide on the unique ``conflict`` columns."""
    rows = list(rows)
    if rows:
        conn.execute(_on_conflict_do_nothing(conn, table, conflict), rows)


def claim(conn: Connection, table: Table, row: dict[str, Any], conflict: Sequence[str]) -> bool:
    """Insert one row unless its unique ``conflict`` key exists; True if this call inserted it.

    ``RETURNING`` says whether a row went in: psycopg reports no row count for an
    ``INSERT ... ON CONFLICT`` here, and counts after an executemany are unreliable anyway.
    """
    key = next(iter(table.primary_key.columns))
    stmt = _on_conflict_do_nothing(conn, table, conflict).values(**row).returning(key)
    return conn.execute(stmt).first() is not None


def xact_lock(conn: Connection, key: str) -> None:
    """Serialise transactions on ``key`` until the current one ends.

    PostgreSQL takes a transaction-scoped advisory lock; SQLite needs nothing, since its
    write transactions (``BEGIN IMMEDIATE``) are already serialised.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(k)s)", {"k": int(key[:15], 16)})


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows with the driver's ``executemany``, bypassing per-row statement work.

    Every row must have the same keys. Values go through each column's bind processor
    (e.g. datetimes to SQLite's text form), memoised, since bulk rows repeat values such
    as the timestamp of the call.
    """
    if not rows:
        return
    names = list(rows[0])
    columns = [table.c[name] for name in names]
    processors = [c.type._cached_bind_processor(conn.dialect) for c in columns]
    style = conn.dialect.paramstyle
    mark = "?" if style == "qmark" else "%s"
    # Table and column names come from our own metadata, values travel as parameters.
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608
        f"VALUES ({', '.join(mark for _ in names)})"
    )
    memo: list[dict[Any, Any]] = [{} for _ in names]

    def convert(index: int, value: Any) -> Any:
        process = processors[index]
        if process is None or value is None:
            return value
        cache = memo[index]
        if value not in cache:
            cache[value] = process(value)
        return cache[value]

    tuples = [tuple(convert(i, row[name]) for i, name in enumerate(names)) for row in rows]
    for part in chunks(tuples, 10_000):
        conn.exec_driver_sql(sql, list(part))

"""The run folder: what a run writes there, the database it makes there, URLs fit to print.

A run owns exactly ``OWNED_FILES`` in its folder: a folder holding anything else is refused,
never cleared, and a reused folder loses exactly those files.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from reports import REPORT_FIGURES
from server_under_test.storage.database import Database, normalise_url

from .errors import RunInputError, TargetError

__all__ = [
    "DATABASE_FILE",
    "OWNED_FILES",
    "database_url",
    "masked_url",
    "one_line",
    "prepare_out",
    "write_jsonl",
]

DATABASE_FILE = "gateway.sqlite3"
# What a run writes to its folder: a reused folder loses exactly these.
OWNED_FILES = (
    "history.jsonl",
    "server_state.json",
    "verdicts.json",
    "junit.xml",
    "summary.md",
    "report.html",
    *REPORT_FIGURES,  # the plots summary.md shows
    DATABASE_FILE,
    f"{DATABASE_FILE}-wal",
    f"{DATABASE_FILE}-shm",
    f"{DATABASE_FILE}-journal",
    "serve.log",
)


def masked_url(url: str) -> str:
    """A database URL fit to print: its password, if any, replaced by ``***``."""
    try:
        parsed = make_url(normalise_url(url))
    except (ArgumentError, ValueError):
        # Unparsable: mask whatever sits between "user:" and "@" all the same.
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def prepare_out(out: Path) -> list[str]:
    """Make ``out`` a writable run folder; return the earlier run's files it removed.

    A folder holding anything but a run's files (``OWNED_FILES``) is refused, never cleared.
    """
    if out.exists() and not out.is_dir():
        raise RunInputError(
            f"The run folder {out} is not a folder (it is a file or a device); give a folder "
            "with --out."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OWNED_FILES)
        if not foreign:
            probe = out / ".hil-write-check"
            probe.write_bytes(b"")
            probe.unlink()
    except OSError as exc:
        raise RunInputError(
            f"Cannot write to the run folder {out}: {exc.strerror or exc}. Give a writable "
            "folder with --out."
        ) from exc
    if foreign:
        raise RunInputError(
            f"The run folder {out} holds files that are not a run's ({', '.join(foreign[:5])}); "
            "give an empty folder, or one an earlier run wrote, with --out."
        )
    removed = [name for name in OWNED_FILES if (out / name).exists()]
    for name in removed:
        (out / name).unlink()
    return removed


def one_line(exc: BaseException) -> str:
    """The driver's own first line for a database error, else the exception's."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def database_url(db: str | None, out: Path) -> str:
    if db is None:
        return f"sqlite:///{out / DATABASE_FILE}"
    url = normalise_url(db)
    shown = masked_url(db)
    try:
        database = Database(url)
    except Exception as exc:  # a URL SQLAlchemy cannot parse, an unsupported database
        raise RunInputError(
            f"Cannot use the database URL {shown!r}: {one_line(exc)}. Give a SQLite path "
            "or a postgresql://user@host:port/dbname URL with --db."
        ) from exc
    try:
        with database.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
    except Exception as exc:  # the driver's own first line says what is wrong
        raise TargetError(f"Cannot open the database {shown}: {one_line(exc)}") from exc
    finally:
        database.dispose()
    if tables - {"alembic_version"}:
        raise RunInputError(
            f"The database {shown!r} is not empty (it has tables: "
            f"{', '.join(sorted(tables)[:5])}...). A run needs an empty database: it must "
            "own every row it judges."
        )
    return url


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> str:
    """Write the history, one event per line; return its SHA-256 digest."""
    digest = hashlib.sha256()
    with path.open("w", encoding="utf-8") as fh:
        for event in events:
            line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
            digest.update(line.encode())
            fh.write(line)
    return digest.hexdigest()

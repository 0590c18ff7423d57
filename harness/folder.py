"""The run folder: what a run writes there, the database it makes there, URLs fit to print.

A run owns exactly ``OWNED_FILES`` in its folder: a folder holding anything else is refused,
never cleared, and a reused folder loses exactly those files (the names older runs wrote
included, so an old folder is cleaned, not refused).

The two large files are sized for CI artefacts:

- the history, ``history.jsonl.gz``: the JSONL lines gzip-compressed, byte for byte the same
  for the same run (no file name and a zero time in the gzip header); its SHA-256
  (``history_sha256``) is that of the uncompressed lines, as before the compression. Read it
  with ``zcat`` or ``gzip -dc``;
- the server's final state, ``server_state.json.gz``: each part (``sms``, ``phones``, ...)
  reduced to the keys the oracles and the reports read (``STATE_KEYS``), written as columns
  (each key once, then its values) and gzip-compressed.

The database the run made in the folder (``gateway.sqlite3``) is removed after the run
unless the caller keeps it (``hil run --keep-db``). :func:`read_history` and
:func:`read_state` read a folder of either form: the current one, or ``history.jsonl`` and a
full ``server_state.json`` as runs before issue 12 wrote them (old CI artefacts).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from reports import REPORT_FIGURES
from server_under_test.storage.database import Database, normalise_url
from simulator import HistoryError, load_history

from .errors import RunInputError, TargetError

__all__ = [
    "DATABASE_FILE",
    "HISTORY_FILE",
    "OWNED_FILES",
    "STATE_FILE",
    "STATE_KEYS",
    "TWIN_FILE",
    "FolderError",
    "database_url",
    "history_file",
    "masked_url",
    "one_line",
    "prepare_out",
    "read_history",
    "read_state",
    "reduce_state",
    "remove_database",
    "write_history",
    "write_state",
]

HISTORY_FILE = "history.jsonl.gz"
STATE_FILE = "server_state.json.gz"
# What runs before issue 12 wrote instead: still read, and removed from a reused folder.
OLD_HISTORY_FILE = "history.jsonl"
OLD_STATE_FILE = "server_state.json"
DATABASE_FILE = "gateway.sqlite3"
TWIN_FILE = "twin.md"  # a differential run's two phones side by side (hil run --twin)
# The database file and the files SQLite keeps beside it.
DATABASE_FILES = (
    DATABASE_FILE,
    f"{DATABASE_FILE}-wal",
    f"{DATABASE_FILE}-shm",
    f"{DATABASE_FILE}-journal",
)
# What a run writes to its folder: a reused folder loses exactly these.
OWNED_FILES = (
    HISTORY_FILE,
    STATE_FILE,
    OLD_HISTORY_FILE,
    OLD_STATE_FILE,
    "verdicts.json",
    "junit.xml",
    "summary.md",
    "report.html",
    *REPORT_FIGURES,  # the plots summary.md shows
    *DATABASE_FILES,
    "serve.log",
    TWIN_FILE,
)
# Level 6 (zlib's default): on campaign-100k, level 9 took 4x the time for 3 % less.
GZIP_LEVEL = 6
# The keys of the server state's rows a run folder keeps, per part; a part not named here is
# kept whole (campaigns, inbound, blacklist: a few rows a campaign or a reply, no secrets).
STATE_KEYS: dict[str, tuple[str, ...]] = {
    # The oracles and thresholds read id, state, failure_type, error_message, delivery,
    # issue_count, segments, number, body, campaign_id, gateway_phone_id, gateway_sim_number
    # and updated_at; the reports the phone, the campaign, the failure and the timestamps.
    # Left out: uuid, number_e164, partner_id, gateway_state, phone_forced.
    "sms": (
        "id",
        "state",
        "failure_type",
        "error_message",
        "delivery",
        "issue_count",
        "segments",
        "number",
        "body",
        "campaign_id",
        "gateway_phone_id",
        "gateway_sim_number",
        "created_at",
        "picked_at",
        "sent_at",
        "updated_at",
    ),
    # counters_consistent reads id, name and sent_total; the rest says what the phone was.
    # Never its api_key or fcm_token: credentials do not belong in a CI artefact.
    "phones": (
        "id",
        "name",
        "phone_number",
        "phone_number_2",
        "state",
        "last_heartbeat",
        "daily_limit",
        "monthly_limit",
        "rate_limit",
        "sent_today",
        "sent_month",
        "sent_total",
    ),
}
# The compact form's marker; a state file without it is an old, plain one.
STATE_FORMAT = "hil-server-state/columns-1"


class FolderError(ValueError):
    """A file of a run folder is missing or does not read; the message names it."""


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


@contextlib.contextmanager
def _gzip_to(path: Path) -> Iterator[gzip.GzipFile]:
    """A gzip stream into ``path`` whose bytes depend on what is written only: no file name
    and a zero time in its header."""
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0) as fh,
    ):
        yield fh


def write_history(out: Path, events: Iterable[Mapping[str, Any]]) -> str:
    """Write the history to ``out``'s ``HISTORY_FILE``, one event per line, compressed;
    return the SHA-256 digest of its uncompressed lines."""
    digest = hashlib.sha256()
    with _gzip_to(out / HISTORY_FILE) as fh:
        lines: list[str] = []
        for event in events:
            lines.append(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
            if len(lines) == 1000:  # a write per line costs more than the compression
                chunk = "".join(lines).encode()
                digest.update(chunk)
                fh.write(chunk)
                lines.clear()
        chunk = "".join(lines).encode()
        digest.update(chunk)
        fh.write(chunk)
    return digest.hexdigest()


def history_file(folder: Path) -> Path:
    """The history of the run in ``folder``: ``HISTORY_FILE``, or an older run's
    ``history.jsonl``."""
    for name in (HISTORY_FILE, OLD_HISTORY_FILE):
        if (folder / name).is_file():
            return folder / name
    raise FolderError(f"{folder / HISTORY_FILE}: no such file; is {folder} a hil run folder?")


def read_history(folder: Path) -> list[dict[str, Any]]:
    """Every event of the run in ``folder``, in order (see :func:`history_file`)."""
    path = history_file(folder)
    try:
        return load_history(path)
    except HistoryError as exc:
        raise FolderError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FolderError(f"{path}: cannot be read: {exc}") from None


def reduce_state(state: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """The server state as a run folder keeps it: each row of a part named in
    ``STATE_KEYS`` with those of its keys only (a key the row lacks stays absent)."""
    reduced: dict[str, Any] = {}
    for part, rows in state.items():
        keys = STATE_KEYS.get(part)
        if keys is None:
            reduced[part] = [dict(row) for row in rows]
        else:
            reduced[part] = [{key: row[key] for key in keys if key in row} for row in rows]
    return reduced


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows as blocks of columns: each run of rows with the same keys one block."""
    blocks: list[dict[str, Any]] = []
    keys: tuple[str, ...] | None = None
    for row in rows:
        if keys != tuple(row) or not blocks:
            keys = tuple(row)
            blocks.append({"rows": 0, "columns": {key: [] for key in keys}})
        block = blocks[-1]
        block["rows"] += 1
        for key, column in block["columns"].items():
            column.append(row[key])
    return blocks


def write_state(out: Path, state: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Write the server state to ``out``'s ``STATE_FILE``, as columns, compressed."""
    compact = {
        "format": STATE_FORMAT,
        "parts": {part: _columns(rows) for part, rows in state.items()},
    }
    with _gzip_to(out / STATE_FILE) as fh:
        fh.write(json.dumps(compact, ensure_ascii=False, separators=(",", ":")).encode())


def _rows(path: Path, part: str, blocks: Any) -> list[dict[str, Any]]:
    """A part's rows back from its blocks of columns."""
    rows: list[dict[str, Any]] = []
    for block in blocks if isinstance(blocks, list) else [None]:
        columns = block.get("columns") if isinstance(block, dict) else None
        count = block.get("rows") if isinstance(block, dict) else None
        if (
            not isinstance(columns, dict)
            or not isinstance(count, int)
            or any(not isinstance(c, list) or len(c) != count for c in columns.values())
        ):
            raise FolderError(
                f"{path}: part {part!r} is not a list of blocks of columns of equal length"
            )
        keys = list(columns)
        values = zip(*columns.values(), strict=True) if keys else iter([()] * count)
        rows.extend(dict(zip(keys, row, strict=True)) for row in values)
    return rows


def read_state(folder: Path) -> dict[str, Any]:
    """The server's final state as the run in ``folder`` kept it: from ``STATE_FILE``, or
    from an older run's full ``server_state.json``."""
    path = folder / STATE_FILE
    opener: Any = gzip.open
    if not path.is_file() and (folder / OLD_STATE_FILE).is_file():
        path, opener = folder / OLD_STATE_FILE, open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise FolderError(f"{path}: no such file; is {folder} a hil run folder?") from None
    except json.JSONDecodeError as exc:
        raise FolderError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise FolderError(f"{path}: cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise FolderError(f"{path}: not the server state of a hil run (not a JSON object)")
    if "format" not in data:  # an older run's state, row by row
        return data
    if data["format"] != STATE_FORMAT or not isinstance(data.get("parts"), dict):
        raise FolderError(
            f"{path}: a server state in the form {data['format']!r}, which this hil does not "
            f"read (it reads {STATE_FORMAT!r}); a newer hil wrote it?"
        )
    return {part: _rows(path, part, blocks) for part, blocks in data["parts"].items()}


def remove_database(out: Path) -> list[str]:
    """Remove the database a run made in ``out`` (and SQLite's files beside it); return the
    names removed."""
    removed = [name for name in DATABASE_FILES if (out / name).exists()]
    for name in removed:
        (out / name).unlink()
    return removed

"""Loading scenarios: from the packaged catalogue by name, from a file, or from a string."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from .errors import Problem, ScenarioError
from .fields import suggest
from .locate import KeyLines, too_deep
from .model import Scenario
from .reader import read

__all__ = ["CATALOGUE", "catalogue", "load", "loads"]

CATALOGUE = Path(__file__).resolve().with_name("catalogue")
_TOML_LINE = re.compile(r"at line (\d+)")
# Arrays and inline tables nested deeper than this are refused before tomllib reads them
# recursively (a scenario needs three levels at most: table, array, inline table).
MAX_NESTING = 32
_TOO_DEEP = (
    f"arrays or inline tables are nested too deeply (more than {MAX_NESTING} levels); a "
    "scenario needs three at most"
)


def catalogue() -> dict[str, Path]:
    """The packaged scenarios by name (``"smoke"`` -> ``.../scenarios/catalogue/smoke.toml``)."""
    return {path.stem: path for path in sorted(CATALOGUE.glob("*.toml"))}


def loads(text: str, file: str = "<string>") -> Scenario:
    """The scenario in TOML ``text``; ``file`` names it in error messages."""
    return _parse(text, file, path=None, expected_name=None)


def load(path_or_name: str | Path) -> Scenario:
    """A catalogue scenario by name (``"smoke"``), else the scenario file at that path.

    A bare name (no directory, no ``.toml``) means the catalogue even when a file of that
    name exists in the working directory. Raises ScenarioError for every problem found.
    """
    known = catalogue()
    if isinstance(path_or_name, str) and path_or_name in known:
        path = known[path_or_name]
        return _read_file(path, f"scenarios/catalogue/{path.name}", expected_name=path.stem)
    path = Path(path_or_name)
    bare = isinstance(path_or_name, str) and path.suffix != ".toml" and len(path.parts) == 1
    if bare and not path.is_file():
        name = str(path_or_name)
        hint = suggest(name, known) or "."
        raise ScenarioError(
            [
                Problem(
                    name,
                    None,
                    "",
                    f"no catalogue scenario of that name and no such file{hint} The catalogue "
                    f"has {', '.join(known)}.",
                )
            ]
        )
    in_catalogue = path.resolve().parent == CATALOGUE
    return _read_file(path, str(path), expected_name=path.stem if in_catalogue else None)


def _read_file(path: Path, file: str, *, expected_name: str | None) -> Scenario:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ScenarioError([Problem(file, None, "", f"cannot be read: {reason}")]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = Problem(file, None, "", f"is not UTF-8 text (bad byte at offset {exc.start})")
        raise ScenarioError([problem]) from exc
    return _parse(text, file, path=path, expected_name=expected_name)


def _parse(text: str, file: str, *, path: Path | None, expected_name: str | None) -> Scenario:
    deep = too_deep(text, MAX_NESTING)
    if deep is not None:
        raise ScenarioError([Problem(file, deep, "", _TOO_DEEP)])
    try:
        data = tomllib.loads(text)
    except RecursionError as exc:  # nesting the scan above did not see: still no traceback
        raise ScenarioError([Problem(file, None, "", _TOO_DEEP)]) from exc
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends "(at line 3, column 5)"; the line also goes in front.
        message = str(exc)
        found = _TOML_LINE.search(message)
        line = int(found.group(1)) if found else None
        if line is None and "end of document" in message:
            line = max(1, len(text.splitlines()))
        raise ScenarioError([Problem(file, line, "", f"invalid TOML: {message}")]) from exc
    return read(data, file, KeyLines(text), path=path, expected_name=expected_name)

"""What goes wrong with a scenario file, said precisely enough to fix it.

``ScenarioError`` is the one error of this part. It carries every ``Problem`` found in a
file (the loader never stops at the first), and its message starts with the first one::

    scenarios/smoke.toml:12: fleet.count: must be an integer from 1 to 500, not 'three'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Problem", "ScenarioError"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a scenario: where (file, line, dotted field) and why."""

    file: str
    line: int | None  # 1-based; None when the problem has no place in the text
    field: str  # dotted path such as "faults[2].kind"; "" for the file as a whole
    reason: str

    def __str__(self) -> str:
        place = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{place}: {self.field}: {self.reason}" if self.field else f"{place}: {self.reason}"


class ScenarioError(Exception):
    """A scenario could not be loaded; ``problems`` lists every reason, first one first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("A ScenarioError needs at least one problem.")
        self.problems: list[Problem] = list(problems)
        first = self.problems[0]
        self.file = first.file
        self.line = first.line
        self.field = first.field
        self.reason = first.reason
        super().__init__(self.problems)  # so that a pickled error comes back whole

    def _message(self) -> str:
        text = str(self.problems[0])
        rest = self.problems[1:]
        if rest:
            more = "problem" if len(rest) == 1 else "problems"
            text += f"\n{len(rest)} more {more} in this scenario:"
            text += "".join(f"\n  {problem}" for problem in rest)
        return text

    def __str__(self) -> str:
        return self._message()

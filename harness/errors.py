"""Whose fault it was: the errors a run raises, mapped to ``hil`` exit codes.

``RunError`` is the root; ``RunInputError`` is bad input (exit 2: the run folder, the
database URL, a database that is not empty, a fleet file, a target that does not speak the
gateway API, a scenario the target cannot take) and ``TargetError`` is the gateway under
test or its database failing (exit 3); ``ExecutorError`` is the executor that runs
independent runs (a Dask scheduler) out of reach (exit 3).
"""

from __future__ import annotations

__all__ = ["ExecutorError", "RunError", "RunInputError", "TargetError"]


class RunError(RuntimeError):
    """A run could not be made or finished; the message says why and what to do."""


class RunInputError(RunError):
    """Bad input: the run folder, the database URL, a database that is not empty, a fleet
    file, a target that does not speak the gateway API."""


class TargetError(RunError):
    """The database or the server under test failed."""


class ExecutorError(RunError):
    """The executor that was to run independent runs (a Dask cluster) cannot be reached."""

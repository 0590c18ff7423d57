"""Independent runs through a ``concurrent.futures`` executor: the self-test's probes and
the capacity planner's sweep points.

``executor_for`` gives local processes by default, or the executor of a Dask distributed
cluster when a scheduler address is given (``distributed.Client(address).get_executor()``),
so work that outgrows one machine runs on an engine that already exists. The function and
its items travel by pickle, so the function must be a module-level one (or a
``functools.partial`` of one) and every worker must be able to import the project.
``run_all`` submits every item, reports each result as it comes (a run that raised is turned
into a result by the caller's ``crashed``, never raised) and returns them in input order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from typing import TypeVar

from .errors import ExecutorError

__all__ = ["CONNECT_TIMEOUT", "executor_for", "run_all"]

T = TypeVar("T")
R = TypeVar("R")

# Seconds to wait for a Dask scheduler to answer before calling it unreachable.
CONNECT_TIMEOUT = 10.0


@contextlib.contextmanager
def executor_for(
    scheduler: str | None, workers: int, timeout: float | None = None
) -> Iterator[Executor]:
    """A pool of ``workers`` local processes, or the executor of the Dask cluster whose
    scheduler listens at ``scheduler`` (``tcp://HOST:PORT``); closed on leaving.

    Raises ``ExecutorError`` when the scheduler does not answer within ``timeout`` seconds
    (``CONNECT_TIMEOUT``)."""
    if scheduler is None:
        pool = ProcessPoolExecutor(max_workers=workers)
        try:
            yield pool
        finally:
            pool.shutdown(cancel_futures=True)
        return
    from distributed import Client  # only a sweep on a cluster needs Dask

    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    try:
        client = Client(  # type: ignore[no-untyped-call]
            scheduler, timeout=timeout, set_as_default=False
        )
    except (OSError, TimeoutError, ValueError) as exc:
        raise ExecutorError(
            f"Cannot reach the Dask scheduler at {scheduler} within {timeout:g} s "
            f"({type(exc).__name__}: {exc}); start one (dask scheduler, then dask worker "
            f"{scheduler} on each machine) or leave --scheduler out to run locally."
        ) from exc
    try:
        with client.get_executor() as executor:  # type: ignore[no-untyped-call]
            yield executor
    finally:
        client.close()  # type: ignore[no-untyped-call]


def run_all(
    work: Callable[[T], R],
    items: Sequence[T],
    *,
    executor: Executor | None = None,
    workers: int = 2,
    crashed: Callable[[T, BaseException], R],
    progress: Callable[[R, int, int], None] | None = None,
) -> list[R]:
    """``work(item)`` for every item, through ``executor`` (a pool of ``workers`` local
    processes by default); results in the order of ``items``. ``progress(result, done,
    total)`` is called as each one arrives; a run that raised becomes ``crashed(item,
    exception)``."""
    results: dict[int, R] = {}
    with contextlib.ExitStack() as stack:
        pool = executor or stack.enter_context(executor_for(None, workers))
        futures: dict[Future[R], int] = {pool.submit(work, item): n for n, item in enumerate(items)}
        for future in as_completed(futures):
            n = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # one broken run is reported, the others go on
                result = crashed(items[n], exc)
            results[n] = result
            if progress is not None:
                progress(result, len(results), len(items))
    return [results[n] for n in range(len(items))]

"""The harness: runs scenarios against a gateway server and judges the results.

It holds the ``hil`` command line (``cli``: ``run``, ``scenarios``, ``serve``, ``db
upgrade``, ``pair``; ``hil run``'s exit codes in ``run_cli``), the scenario runner
(``runner.run_scenario``), the in-process gateway that sets the server's clock to virtual
time (``inprocess``), the oracles (``oracles``) and ``hil serve`` in a subprocess for tests
and benchmarks (``process``).
"""

from __future__ import annotations

__all__: list[str] = []

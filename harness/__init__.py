"""The harness: runs scenarios against a gateway server and judges the results.

Today it holds the ``hil`` command line (``hil serve``, ``hil db upgrade``). It will hold
the HTTP client that implements the simulator's port, the scenario runner, the history
recorder and the oracles (see the project's issues).
"""

from __future__ import annotations

__all__: list[str] = []

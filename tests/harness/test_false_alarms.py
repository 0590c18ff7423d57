"""No false alarms: the scenarios that claim defects stay green on the correct server under
other seeds than their own. The suite sweeps ``HIL_FALSE_ALARM_SEEDS`` seeds from 2 on
(default 1: seed 2; seed 1 is every scenario's own, run by test_runner; about 4 minutes on a
loaded two-core machine); the long sweep is ``hil selftest --clean-only --seeds N``, its
figures in BENCHMARKS.md."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.selftest import CLEAN, plan, selftest
from scenarios import catalogue, load


@pytest.mark.slow
def test_the_defect_catching_scenarios_raise_no_false_alarm_under_other_seeds(
    tmp_path: Path,
) -> None:
    count = int(os.environ.get("HIL_FALSE_ALARM_SEEDS", "1"))
    scenarios = [load(name) for name in catalogue()]
    runs, _ = plan(
        [s for s in scenarios if s.served is None],
        seeds=range(2, 2 + count),
        probes=False,
    )
    assert len(runs) >= 9 * count  # every virtual-time scenario that claims a defect
    matrix = selftest(runs, tmp_path, workers=2)
    alarms = [o for o in matrix.outcomes if o.status != CLEAN]
    assert not alarms, "\n".join(
        f"{o.probe.scenario} seed {o.seed}: {o.status} {o.failed} {o.detail[:300]}" for o in alarms
    )

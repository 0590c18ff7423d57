"""The import rules of DESIGN.md and the honesty of each part's public names."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARTS = ["server_under_test", "simulator", "harness", "scenarios", "reports", "smscodec"]


def test_import_rules_hold():
    """server_under_test and simulator import no other part; reports read results only."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and " 0 broken" in result.stdout


@pytest.mark.parametrize("part", PARTS)
def test_public_names_exist(part):
    module = importlib.import_module(part)
    exported = module.__all__
    assert len(set(exported)) == len(exported), "duplicate names in __all__"
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("part", PARTS)
def test_every_part_says_what_it_is(part):
    assert (importlib.import_module(part).__doc__ or "").strip()

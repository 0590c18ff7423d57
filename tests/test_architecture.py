"""The import rules of DESIGN.md and the honesty of each part's public names."""

from __future__ import annotations
import __future__

import importlib
import subprocess
import sys
import types
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


def _public_names(module: types.ModuleType) -> set[str]:
    """The names a module binds for others: not private, not submodules, not ``annotations``."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and not isinstance(value, __future__._Feature)
    }


@pytest.mark.parametrize("part", PARTS)
def test_public_names_exist(part):
    """``__all__`` both ways (as httpx's test_exported_members): every name it lists exists,
    and every public name of the part is listed."""
    module = importlib.import_module(part)
    exported = module.__all__
    assert len(set(exported)) == len(exported), "duplicate names in __all__"
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == []
    assert sorted(_public_names(module) - set(exported)) == []


def test_a_public_name_left_out_of_all_is_found():
    module = types.ModuleType("part")
    module.annotations = __future__.annotations  # what `from __future__ import annotations` binds
    module.subprocess = subprocess  # an imported module
    module.Shown, module.Hidden, module._own = 1, 2, 3
    module.__all__ = ["Shown"]
    assert _public_names(module) - set(module.__all__) == {"Hidden"}


@pytest.mark.parametrize("part", PARTS)
def test_every_part_says_what_it_is(part):
    assert (importlib.import_module(part).__doc__ or "").strip()

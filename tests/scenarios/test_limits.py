"""Scenario files that would exhaust the loader or run without end are refused, with the place."""

from __future__ import annotations

import pytest

from scenarios import ScenarioError, load, loads
from scenarios.reader import MAX_DURATION

HEAD = """\
[scenario]
name = "t"
description = "A test."
max_duration = "2h"

[fleet]
count = 1
"""


def test_a_max_duration_past_the_maximum_is_refused_with_file_line_and_field() -> None:
    text = HEAD.replace('max_duration = "2h"', 'max_duration = "100000000d"\ndrain = false')
    with pytest.raises(ScenarioError) as info:
        loads(text, file="long.toml")
    error = info.value
    assert (error.file, error.line, error.field) == ("long.toml", 4, "scenario.max_duration")
    assert "31d" in error.reason and "100000000d" in error.reason
    assert str(error).startswith("long.toml:4: scenario.max_duration: ")


def test_the_maximum_duration_itself_is_accepted_and_documented() -> None:
    text = HEAD.replace('"2h"', '"31d"')
    assert loads(text).max_duration == MAX_DURATION == 31 * 86_400
    from scenarios.loader import CATALOGUE

    assert "at most 31d" in (CATALOGUE.parent / "README.md").read_text()


@pytest.mark.parametrize(
    ("opening", "closing"), [("[", "]"), ("{ a = ", "}")], ids=["arrays", "inline tables"]
)
def test_deeply_nested_toml_is_a_scenario_error_naming_the_file_and_line(
    tmp_path, opening: str, closing: str
) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(HEAD + "\n[expect]\nhit = " + opening * 50_000 + "1" + closing * 50_000 + "\n")
    with pytest.raises(ScenarioError) as info:
        load(path)
    error = info.value
    assert (error.file, error.line) == (str(path), 10)
    assert "nested too deeply" in error.reason


def test_nesting_in_strings_and_comments_is_not_counted() -> None:
    text = HEAD + "\n[[workload]]\ncount = 1\nbody = '" + "[" * 200 + "'  # " + "{" * 200 + "\n"
    assert loads(text).workload[0].bodies == ("[" * 200,)

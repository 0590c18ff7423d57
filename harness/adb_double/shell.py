"""The test double's shell: a tiny command line over the phone's commands.

``adb shell CMD`` hands ``CMD`` to ``/system/bin/sh -c`` (mksh). Clients lean on a little of
the shell's grammar: adbutils' ``shell2`` appends ``; echo X4EXIT:$?`` to learn the exit
status over the legacy shell. So this shell runs command lists: simple commands separated by
``;``, ``&&`` and ``||``, words split on blanks, ``'single'`` and ``"double"`` quotes,
backslash escapes and ``$?`` (the last status), with ``echo``, ``true`` and ``false`` built in.
Pipes, redirections, other variables and substitutions are refused with a message that says
that this is a test double, never run half-understood. An unknown command answers as mksh
does on Android 11 and later: ``/system/bin/sh: NAME: inaccessible or not found``, status 127.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Outcome", "ShellSyntaxError", "parse", "run_line"]

SH = "/system/bin/sh"
NOT_FOUND = 127


@dataclass
class Outcome:
    """What a command printed (stdout and stderr, merged as the legacy shell does), its
    exit status, and whether it took the device down (``reboot``)."""

    out: str = ""
    status: int = 0
    reboot: bool = False


class ShellSyntaxError(ValueError):
    """A command line this shell does not run."""


# A word is a list of parts: text, or None for ``$?`` (expanded when the command runs).
Word = list[str | None]


@dataclass
class Simple:
    """One simple command and how it joins the previous one (``;``, ``&&``, ``||``)."""

    words: list[Word]
    joined_by: str = ";"


_UNSUPPORTED = "|<>&`"


def parse(line: str) -> list[Simple]:
    """Split a command line into simple commands; raises :class:`ShellSyntaxError`."""
    commands: list[Simple] = []
    words: list[Word] = []
    word: Word | None = None
    joined_by = ";"
    i = 0

    def add(part: str | None) -> None:
        nonlocal word
        if word is None:
            word = []
        word.append(part)

    def end_word() -> None:
        nonlocal word
        if word is not None:
            words.append(word)
            word = None

    def end_command(next_join: str) -> None:
        nonlocal words, joined_by
        end_word()
        if words:
            commands.append(Simple(words, joined_by))
        elif next_join != ";" or joined_by != ";":
            raise ShellSyntaxError(f"syntax error: {next_join!r} unexpected")
        words, joined_by = [], next_join

    while i < len(line):
        ch = line[i]
        if ch in " \t\n":
            end_word()
        elif ch == ";":
            end_command(";")
        elif line.startswith(("&&", "||"), i):
            end_command(line[i : i + 2])
            i += 1
        elif ch in _UNSUPPORTED:
            raise ShellSyntaxError(
                f"{ch!r}: the HIL test double's shell runs no pipes, redirections, background "
                "jobs or command substitutions"
            )
        elif ch == "\\":
            i += 1
            if i < len(line) and line[i] != "\n":
                add(line[i])
        elif ch == "'":
            end = line.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("syntax error: unterminated quoted string")
            add(line[i + 1 : end])
            i = end
        elif ch == '"':
            i = _double_quoted(line, i + 1, add)
        elif ch == "$":
            i = _dollar(line, i, add)
        else:
            add(ch)
        i += 1
    end_word()
    if words:
        commands.append(Simple(words, joined_by))
    elif joined_by != ";":
        raise ShellSyntaxError(f"syntax error: unexpected end of line after {joined_by!r}")
    return commands


def _double_quoted(line: str, i: int, add: Callable[[str | None], None]) -> int:
    """Consume a double-quoted string from ``i``; returns the index of its closing quote."""
    add("")  # "" is an empty word, not no word
    while i < len(line):
        ch = line[i]
        if ch == '"':
            return i
        if ch == "\\" and i + 1 < len(line) and line[i + 1] in '"\\$`':
            add(line[i + 1])
            i += 1
        elif ch == "$":
            i = _dollar(line, i, add)
        elif ch == "`":
            raise ShellSyntaxError("'`': the HIL test double's shell runs no substitutions")
        else:
            add(ch)
        i += 1
    raise ShellSyntaxError("syntax error: unterminated quoted string")


def _dollar(line: str, i: int, add: Callable[[str | None], None]) -> int:
    """``$?`` becomes the status part; other expansions are refused; a lone ``$`` is text."""
    following = line[i + 1 : i + 2]
    if following == "?":
        add(None)
        return i + 1
    if following and (following.isalnum() or following in "_{(#@*!$-"):
        raise ShellSyntaxError(
            f"'${following}': the HIL test double's shell expands only $? (no variables "
            "or substitutions)"
        )
    add("$")
    return i


def run_line(line: str, run: Callable[[list[str]], Outcome]) -> Outcome:
    """Run a command line; ``run(argv)`` runs one command other than the builtins."""
    try:
        commands = parse(line)
    except ShellSyntaxError as exc:
        return Outcome(f"{SH}: {exc}\n", 1)
    out: list[str] = []
    status = 0
    for command in commands:
        if (command.joined_by == "&&" and status != 0) or (
            command.joined_by == "||" and status == 0
        ):
            continue
        argv = ["".join(str(status) if part is None else part for part in w) for w in command.words]
        outcome = _builtin(argv)
        if outcome is None:
            outcome = run(argv)
        out.append(outcome.out)
        status = outcome.status
        if outcome.reboot:  # the device went down: nothing after it runs
            return Outcome("".join(out), status, reboot=True)
    return Outcome("".join(out), status)


def _builtin(argv: list[str]) -> Outcome | None:
    name = argv[0]
    if name == "echo":
        if argv[1:2] == ["-n"]:
            return Outcome(" ".join(argv[2:]))
        return Outcome(" ".join(argv[1:]) + "\n")
    if name == "true":
        return Outcome()
    if name == "false":
        return Outcome(status=1)
    return None

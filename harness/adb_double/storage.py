"""The test double's file system: the directories ``adb push`` may write to, in memory.

The shell user may write under ``/data/local/tmp`` and ``/sdcard`` only; adbd makes the
missing directories of a pushed file (``secure_mkdirs``) and answers ``couldn't create file:
Permission denied`` elsewhere, as a phone's ``file_sync_service`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Storage"]

_WRITABLE = ("/data/local/tmp", "/sdcard")


@dataclass
class _File:
    data: bytes
    mode: int
    mtime: int


class Storage:
    """Files and directories by absolute path."""

    def __init__(self) -> None:
        self.files: dict[str, _File] = {}
        self.dirs = {"/", "/data", "/data/local", "/data/local/tmp", "/sdcard", "/sdcard/Download"}

    def stat(self, path: str) -> tuple[int, int, int] | None:
        """(mode, size, mtime) of a path, or ``None`` when it does not exist."""
        path = _norm(path)
        if path in self.dirs:
            return (0o040771, 4096, 0)
        entry = self.files.get(path)
        return None if entry is None else (0o100000 | entry.mode, len(entry.data), entry.mtime)

    def listdir(self, path: str) -> list[tuple[str, int, int, int]]:
        """(name, mode, size, mtime) of a directory's entries (empty when it is none)."""
        path = _norm(path)
        prefix = path.rstrip("/") + "/"
        names = {
            p[len(prefix) :].split("/")[0]
            for p in (*self.files, *self.dirs)
            if p.startswith(prefix) and p != prefix
        }
        entries = []
        for name in sorted(names):
            found = self.stat(prefix + name)
            if found is not None:
                entries.append((name, *found))
        return entries

    def write(self, path: str, data: bytes, mode: int, mtime: int) -> str | None:
        """Store a pushed file; returns the failure adbd would report, else ``None``."""
        path = _norm(path)
        if not any(path.startswith(root + "/") for root in _WRITABLE) or path in self.dirs:
            return "couldn't create file: Permission denied"
        parent = path.rsplit("/", 1)[0]
        while parent not in self.dirs:  # adbd makes the missing directories
            self.dirs.add(parent)
            parent = parent.rsplit("/", 1)[0]
        self.files[path] = _File(data, mode & 0o7777, mtime)
        return None

    def read(self, path: str) -> bytes | None:
        """A file's bytes, or ``None`` when it is not a file."""
        entry = self.files.get(_norm(path))
        return None if entry is None else entry.data

    def remove(self, path: str) -> bool:
        """Delete a file; whether there was one."""
        return self.files.pop(_norm(path), None) is not None


def _norm(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)

"""The ``sync:`` service of the test double: ``adb push``/``pull`` (sync protocol v1).

Facts from AOSP ``SYNC.TXT`` and ``daemon/file_sync_service.cpp`` (platform-tools 29):
each request is an 8-byte header (4-byte id, little-endian length) followed by the path
(at most 1024 bytes). ``STAT`` answers ``STAT`` + mode, size, mtime (zeros for a missing
path); ``LIST`` answers one ``DENT`` (mode, size, mtime, name length, name) per entry and a
``DONE`` as long as a ``DENT`` header; ``SEND path,mode`` is followed by ``DATA`` chunks of
at most 64 KiB and ``DONE`` + mtime, answered ``OKAY`` + 0; ``RECV path`` answers ``DATA``
chunks and ``DONE`` + 0; ``QUIT`` ends the service. A failure answers ``FAIL`` + length +
message, after which the service closes the stream. The v2 requests (``STA2``, ``LIS2``,
``SND2``, ``RCV2``) are not served: the double does not advertise ``stat_v2``, ``ls_v2`` or
``sendrecv_v2``, so no client asks for them.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Protocol

from .phone import PhoneModel

__all__ = ["SYNC_DATA_MAX", "SyncStream", "serve_sync"]

SYNC_DATA_MAX = 64 * 1024
_PATH_MAX = 1024
_U32 = struct.Struct("<I")


class SyncStream(Protocol):
    """The two ends of one ADB stream the sync service needs."""

    async def read_exactly(self, size: int) -> bytes:
        """The next ``size`` bytes from the host; ``asyncio.IncompleteReadError`` at its end."""
        ...

    async def write(self, data: bytes) -> None:
        """Send bytes to the host (split into messages as the transport must)."""
        ...


def _msg(ident: bytes, *numbers: int) -> bytes:
    return ident + b"".join(_U32.pack(n & 0xFFFFFFFF) for n in numbers)


async def _fail(stream: SyncStream, reason: str) -> None:
    text = reason.encode()
    await stream.write(_msg(b"FAIL", len(text)) + text)


async def serve_sync(stream: SyncStream, model: PhoneModel) -> None:
    """Answer sync requests until ``QUIT``, a failure, or the host closes the stream."""
    try:
        while await _request(stream, model):
            pass
    except asyncio.IncompleteReadError:
        return  # the host closed the stream between (or inside) requests


async def _request(stream: SyncStream, model: PhoneModel) -> bool:
    header = await stream.read_exactly(8)
    ident, length = header[:4], _U32.unpack(header[4:])[0]
    if length > _PATH_MAX:
        await _fail(stream, "path too long")
        return False
    path = (await stream.read_exactly(length)).decode("utf-8", "replace")
    if ident == b"STAT":
        with model.lock:
            found = model.files.stat(path)
        await stream.write(_msg(b"STAT", *(found or (0, 0, 0))))
        return True
    if ident == b"LIST":
        with model.lock:
            entries = model.files.listdir(path)
        out = bytearray()
        for name, mode, size, mtime in entries:
            raw = name.encode()
            out += _msg(b"DENT", mode, size, mtime, len(raw)) + raw
        await stream.write(bytes(out + _msg(b"DONE", 0, 0, 0, 0)))
        return True
    if ident == b"SEND":
        return await _receive_file(stream, model, path)
    if ident == b"RECV":
        with model.lock:
            data = model.files.read(path)
        if data is None:
            await _fail(stream, "open failed: No such file or directory")
            return False
        for start in range(0, len(data), SYNC_DATA_MAX):
            chunk = data[start : start + SYNC_DATA_MAX]
            await stream.write(_msg(b"DATA", len(chunk)) + chunk)
        await stream.write(_msg(b"DONE", 0))
        return True
    if ident == b"QUIT":
        return False
    await _fail(stream, f"unknown command {int.from_bytes(ident, 'little'):08x}")
    return False


async def _receive_file(stream: SyncStream, model: PhoneModel, spec: str) -> bool:
    """``SEND path,mode``: the file's chunks, then ``DONE`` with its mtime."""
    path, comma, mode_text = spec.rpartition(",")
    if not comma:
        await _fail(stream, "missing , in ID_SEND")
        return False
    try:
        mode = int(mode_text)
    except ValueError:
        await _fail(stream, "bad mode")
        return False
    data = bytearray()
    while True:
        header = await stream.read_exactly(8)
        ident, size = header[:4], _U32.unpack(header[4:])[0]
        if ident == b"DONE":
            mtime = size  # DONE carries the file's mtime where DATA carries a length
            break
        if ident != b"DATA":
            await _fail(stream, "invalid data message")
            return False
        if size > SYNC_DATA_MAX:
            await _fail(stream, "oversize data message")
            return False
        data += await stream.read_exactly(size)
    with model.lock:
        failure = model.files.write(path, bytes(data), mode, mtime)
    if failure is not None:
        await _fail(stream, failure)
        return False
    await stream.write(_msg(b"OKAY", 0))
    return True

"""SMTP reply reading shared by the bench's Python clients (latency_probe, policy_load)."""

from __future__ import annotations

import asyncio


async def read_reply(reader: asyncio.StreamReader, error: type[Exception]) -> tuple[int, str]:
    """Read one (possibly multi-line) SMTP reply; return (code, last line). Problems raise
    `error`, the caller's own exception type."""
    for _ in range(1000):  # bounded: no sane reply has more lines
        line = await reader.readline()
        if not line:
            raise error("connection closed by server")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if len(text) < 3 or not text[:3].isdigit():
            raise error(f"malformed reply line: {text!r}")
        if len(text) == 3 or text[3] == " ":
            return int(text[:3]), text
    raise error("reply has too many lines")

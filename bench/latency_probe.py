#!/usr/bin/python3
"""Accept latency probe for bench/accept.sh (Python 3 standard library only).

Sends --messages messages of --size payload bytes over --sessions concurrent SMTP
sessions and measures, for every message, the time from the moment the client has
sent the end-of-data marker (CRLF "." CRLF) to the moment the server's complete
final reply has been read. That interval is the server's accept path: parse the
tail of the message, make it durable, answer 250.

Prints one line of key=value pairs (counts, throughput, p50/p90/p99/max in ms) and
exits non-zero if any message was not accepted with a 2xx reply.
Only loopback addresses are accepted as --host.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
import time
from email.utils import formatdate

from smtp_wire import read_reply

LINE_PAYLOAD = 78  # 78 characters + CRLF, like smtp-source's payload lines


class ProbeError(Exception):
    pass


def build_payload(size: int, sender: str, recipient: str, serial: str) -> bytes:
    """Headers plus `size` bytes of body (body size excludes headers, as smtp-source -l)."""
    headers = (
        f"From: <{sender}>\r\n"
        f"To: <{recipient}>\r\n"
        f"Date: {formatdate(localtime=False, usegmt=True)}\r\n"
        f"Message-Id: <{serial}.probe@bench.smarthost.test>\r\n"
        "Subject: latency probe\r\n"
        "\r\n"
    ).encode("ascii")
    lines = []
    remaining = size
    while remaining > 0:
        chunk = min(LINE_PAYLOAD, max(remaining - 2, 1))
        lines.append(b"X" * chunk + b"\r\n")
        remaining -= chunk + 2
    # Lines start with "X", so no dot-stuffing is needed; the body ends with CRLF.
    return headers + b"".join(lines)


async def command(reader, writer, line: str, expect: int) -> None:
    writer.write(line.encode("ascii") + b"\r\n")
    await writer.drain()
    code, text = await read_reply(reader, ProbeError)
    if code // 100 != expect // 100:
        raise ProbeError(f"{line.split(':')[0]} -> {text}")


class Probe:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.next_serial = 0
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def take(self) -> int | None:
        if self.next_serial >= self.args.messages:
            return None
        self.next_serial += 1
        return self.next_serial

    async def open_session(self):
        a = self.args
        reader, writer = await asyncio.open_connection(a.host, a.port, limit=1 << 16)
        code, text = await read_reply(reader, ProbeError)
        if code != 220:
            raise ProbeError(f"greeting -> {text}")
        await command(reader, writer, f"EHLO {a.helo}", 250)
        return reader, writer

    async def close_session(self, reader, writer) -> None:
        try:
            await command(reader, writer, "QUIT", 221)
        except (ProbeError, OSError):
            pass
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass

    async def send_one(self, reader, writer, serial: int) -> None:
        a = self.args
        await command(reader, writer, f"MAIL FROM:<{a.sender}>", 250)
        await command(reader, writer, f"RCPT TO:<{a.recipient}>", 250)
        await command(reader, writer, "DATA", 354)
        writer.write(build_payload(a.size, a.sender, a.recipient, f"{serial}.{id(self)}"))
        await writer.drain()
        start = time.perf_counter()
        writer.write(b".\r\n")  # the body already ends with CRLF: this completes CRLF.CRLF
        await writer.drain()
        code, text = await read_reply(reader, ProbeError)
        elapsed = time.perf_counter() - start
        if code != 250:
            raise ProbeError(f"end of DATA -> {text}")
        self.latencies.append(elapsed)

    async def worker(self) -> None:
        session = None
        try:
            while (serial := self.take()) is not None:
                if session is None:
                    session = await self.open_session()
                try:
                    await self.send_one(*session, serial)
                except (ProbeError, OSError) as exc:
                    self.errors.append(f"message {serial}: {exc}")
                    await self.close_session(*session)
                    session = None
                    if len(self.errors) >= self.args.max_errors:
                        return
                    continue
                if not self.args.reuse:
                    await self.close_session(*session)
                    session = None
        except (ProbeError, OSError) as exc:
            self.errors.append(f"session: {exc}")
        finally:
            if session is not None:
                await self.close_session(*session)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil(n * p / 100)
    return sorted_values[int(rank) - 1]


async def run(args: argparse.Namespace) -> int:
    probe = Probe(args)
    started = time.perf_counter()
    tasks = [asyncio.create_task(probe.worker()) for _ in range(args.sessions)]
    done, pending = await asyncio.wait(tasks, timeout=args.timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)
        probe.errors.append(f"timeout after {args.timeout}s ({len(pending)} sessions unfinished)")
    wall = time.perf_counter() - started

    values = sorted(probe.latencies)
    ms = lambda seconds: f"{seconds * 1000:.2f}"  # noqa: E731
    print(
        f"ok={len(values)} errors={len(probe.errors)} sessions={args.sessions} "
        f"size={args.size} reuse={int(args.reuse)} wall_s={wall:.3f} "
        f"msgs_per_s={len(values) / wall if wall > 0 else 0:.1f} "
        f"p50_ms={ms(percentile(values, 50))} p90_ms={ms(percentile(values, 90))} "
        f"p99_ms={ms(percentile(values, 99))} max_ms={ms(values[-1] if values else float('nan'))}"
    )
    for error in probe.errors[:10]:
        print(f"latency_probe: {error}", file=sys.stderr)
    return 0 if not probe.errors and len(values) == args.messages else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--size", type=int, default=4096, help="payload bytes, headers excluded")
    parser.add_argument("--reuse", action="store_true", help="send all messages of a session over one connection")
    parser.add_argument("--sender", default="sender@bench.smarthost.test")
    parser.add_argument("--recipient", default="sink@bench.invalid")
    parser.add_argument("--helo", default="bench.smarthost.test")
    parser.add_argument("--timeout", type=float, default=300.0, help="overall deadline, seconds")
    parser.add_argument("--max-errors", type=int, default=20)
    args = parser.parse_args()
    if not ipaddress.ip_address(args.host).is_loopback:
        parser.error("--host must be a loopback address")
    if not (1 <= args.sessions <= 1000 and 1 <= args.messages <= 1_000_000 and 0 <= args.size <= 50_000_000):
        parser.error("--sessions, --messages or --size out of range")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

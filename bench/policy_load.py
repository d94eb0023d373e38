#!/usr/bin/python3
"""Multi-account load generator for bench/accept.sh's policy comparison (standard library only).

Sends --messages messages of --size body bytes over --sessions concurrent SMTP sessions,
one connection per message (like smtp-source without -d), spread round-robin over
--accounts accounts. Message i belongs to account k = i mod A + 1, and its connection
comes from that account's own loopback source address (--first-source + k - 1, e.g.
127.0.1.1 for account 1), with envelope sender and From: header
sender@a<k>.<--domain>. So on a smarthost where account k owns the network
127.0.1.k/32 and the sender domain a<k>.<domain>, every message is identified,
authorized and counted for its own account. smtp-source cannot do that: it can neither
bind a source address nor AUTH.

Each session: connect, greeting, EHLO, MAIL FROM:<...> SIZE=<bytes>, RCPT TO, DATA, the
message, ".", QUIT. No pipelining, as smtp-source.

The work is split over --processes Python processes (each its own event loop) so that the
client is not the bottleneck on a multi-core machine; its CPU time is reported
(client_cpu_s) so that a reader can tell.

Prints one line of key=value pairs: ok, errors, wall_s (first connect to last reply,
across all processes), msgs_per_s, and, in ms, the p50/p99 of two latencies per message:
txn (connect to the 250 after the final dot: connection, greeting, every policy check
and the durable commit) and eod (final dot sent to its 250). Exits non-zero if any
message was not accepted with 250: the bench's policy must never refuse its own load.
Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import multiprocessing
import os
import resource
import sys
import time
from email.utils import formatdate

from smtp_wire import read_reply

LINE_PAYLOAD = 78  # 78 characters + CRLF, like smtp-source's payload lines


class LoadError(Exception):
    pass


def body(size: int) -> bytes:
    """`size` bytes of body in lines of 80 (headers excluded, as smtp-source -l)."""
    lines = []
    remaining = size
    while remaining > 0:
        chunk = min(LINE_PAYLOAD, max(remaining - 2, 1))
        lines.append(b"X" * chunk + b"\r\n")
        remaining -= chunk + 2
    # Lines start with "X": no dot-stuffing needed; the body ends with CRLF.
    return b"".join(lines)


async def command(reader, writer, line: str, expect: int) -> None:
    writer.write(line.encode("ascii") + b"\r\n")
    code, text = await read_reply(reader, LoadError)
    if code != expect:
        raise LoadError(f"{line.split(':')[0]} -> {text}")


class Worker:
    """The sessions of one process: serials first, first + step, ... below the total."""

    def __init__(self, args: argparse.Namespace, first: int, step: int):
        self.args = args
        self.next_serial = first
        self.step = step
        self.body = body(args.size)
        self.first_source = ipaddress.IPv4Address(args.first_source)
        self.txn: list[float] = []
        self.eod: list[float] = []
        self.errors: list[str] = []

    def take(self) -> int | None:
        if self.next_serial >= self.args.messages:
            return None
        serial = self.next_serial
        self.next_serial += self.step
        return serial

    def message(self, serial: int, sender: str) -> bytes:
        a = self.args
        headers = (
            f"From: <{sender}>\r\n"
            f"To: <{a.recipient}>\r\n"
            f"Date: {formatdate(localtime=False, usegmt=True)}\r\n"
            f"Message-Id: <{serial}.{os.getpid()}.policy-load@{a.domain}>\r\n"
            "Subject: policy bench\r\n"
            "\r\n"
        ).encode("ascii")
        return headers + self.body

    async def send_one(self, serial: int) -> None:
        a = self.args
        account = serial % a.accounts + 1
        source = str(self.first_source + account - 1)
        sender = f"sender@a{account}.{a.domain}"
        data = self.message(serial, sender)
        start = time.perf_counter()
        reader, writer = await asyncio.open_connection(
            a.host, a.port, local_addr=(source, 0), limit=1 << 16
        )
        try:
            code, text = await read_reply(reader, LoadError)
            if code != 220:
                raise LoadError(f"greeting -> {text}")
            await command(reader, writer, f"EHLO {a.helo}", 250)
            await command(reader, writer, f"MAIL FROM:<{sender}> SIZE={len(data)}", 250)
            await command(reader, writer, f"RCPT TO:<{a.recipient}>", 250)
            await command(reader, writer, "DATA", 354)
            writer.write(data)
            eod_start = time.perf_counter()
            writer.write(b".\r\n")  # the data ends with CRLF: this completes CRLF.CRLF
            code, text = await read_reply(reader, LoadError)
            end = time.perf_counter()
            if code != 250:
                raise LoadError(f"end of DATA -> {text}")
            self.txn.append(end - start)
            self.eod.append(end - eod_start)
            await command(reader, writer, "QUIT", 221)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def session(self) -> None:
        while (serial := self.take()) is not None:
            try:
                await self.send_one(serial)
            except (LoadError, OSError) as exc:
                self.errors.append(f"message {serial} (account {serial % self.args.accounts + 1}): {exc}")
                if len(self.errors) >= self.args.max_errors:
                    return

    async def run(self, sessions: int) -> tuple[float, float]:
        started = time.monotonic()
        tasks = [asyncio.create_task(self.session()) for _ in range(sessions)]
        _, pending = await asyncio.wait(tasks, timeout=self.args.timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
            self.errors.append(f"timeout after {self.args.timeout}s ({len(pending)} sessions unfinished)")
        return started, time.monotonic()


def child(args, index: int, processes: int, sessions: int, go, results) -> None:
    worker = Worker(args, index, processes)
    go.wait()
    started, ended = asyncio.run(worker.run(sessions))
    results.put((started, ended, worker.txn, worker.eod, worker.errors))


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil(n * p / 100)
    return sorted_values[int(rank) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096, help="body bytes, headers excluded")
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--first-source", default="127.0.1.1", help="source address of account 1")
    parser.add_argument("--domain", default="bench.smarthost.test", help="account k sends as a<k>.DOMAIN")
    parser.add_argument("--recipient", default="sink@bench.invalid")
    parser.add_argument("--helo", default="bench.smarthost.test")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=300.0, help="overall deadline, seconds")
    parser.add_argument("--max-errors", type=int, default=20)
    args = parser.parse_args()
    if not ipaddress.ip_address(args.host).is_loopback:
        parser.error("--host must be a loopback address")
    first = ipaddress.IPv4Address(args.first_source)
    if not (first.is_loopback and (first + args.accounts - 1).is_loopback):
        parser.error("the source addresses must be loopback addresses (127.0.0.0/8)")
    if not (
        1 <= args.sessions <= 1000
        and 1 <= args.messages <= 10_000_000
        and 0 <= args.size <= 50_000_000
        and 1 <= args.accounts <= 100_000
        and 1 <= args.processes <= 64
    ):
        parser.error("--sessions, --messages, --size, --accounts or --processes out of range")

    processes = min(args.processes, args.sessions, args.messages)
    context = multiprocessing.get_context("fork")
    go = context.Event()
    results = context.Queue()
    children = []
    for index in range(processes):
        # Sessions split as evenly as possible; serials interleaved across processes.
        sessions = args.sessions // processes + (1 if index < args.sessions % processes else 0)
        process = context.Process(target=child, args=(args, index, processes, sessions, go, results))
        process.start()
        children.append(process)
    go.set()
    collected = [results.get(timeout=args.timeout + 30) for _ in children]
    for process in children:
        process.join(timeout=30)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)

    # time.monotonic is CLOCK_MONOTONIC: one clock for every process on Linux.
    wall = max(c[1] for c in collected) - min(c[0] for c in collected)
    txn = sorted(v for c in collected for v in c[2])
    eod = sorted(v for c in collected for v in c[3])
    errors = [e for c in collected for e in c[4]]
    ms = lambda seconds: f"{seconds * 1000:.2f}"  # noqa: E731
    print(
        f"ok={len(txn)} errors={len(errors)} sessions={args.sessions} size={args.size} "
        f"accounts={args.accounts} processes={processes} wall_s={wall:.3f} "
        f"msgs_per_s={len(txn) / wall if wall > 0 else 0:.1f} "
        f"txn_p50_ms={ms(percentile(txn, 50))} txn_p99_ms={ms(percentile(txn, 99))} "
        f"eod_p50_ms={ms(percentile(eod, 50))} eod_p99_ms={ms(percentile(eod, 99))} "
        f"client_cpu_s={usage.ru_utime + usage.ru_stime:.2f}"
    )
    for error in errors[:10]:
        print(f"policy_load: {error}", file=sys.stderr)
    return 0 if not errors and len(txn) == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())

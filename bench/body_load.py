#!/usr/bin/python3
"""Large messages at once, for bench/body_memory.sh: --messages sessions, each sending one
message of --size bytes, all started together, retrying like an MTA when the server says
452 (its body memory is full) until every message got 250 or --deadline passed.

Prints "accepted=… retried_452=… retried_421=… seconds=…". Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from smtp_wire import read_reply


class LoadError(Exception):
    pass


def message(size: int) -> bytes:
    head = b"From: <sender@bench.smarthost.test>\r\nTo: <sink@bench.invalid>\r\nSubject: large\r\n\r\n"
    line = b"x" * 998 + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


async def command(reader, writer, line: bytes) -> int:
    writer.write(line + b"\r\n")
    await writer.drain()
    code, _ = await read_reply(reader, LoadError)
    return code


async def connect(port: int, deadline: float, counts: dict[str, int]):
    """A greeted connection; a 421 greeting (the server is busy) is retried like a 452."""
    while True:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 16)
        code, text = await read_reply(reader, LoadError)
        if code == 220:
            return reader, writer
        writer.close()
        if code != 421 or time.monotonic() >= deadline:
            raise LoadError(f"greeting: {text}")
        counts["retried_421"] += 1
        await asyncio.sleep(1)


async def send_one(
    port: int, body: bytes, declare: bool, deadline: float, counts: dict[str, int]
) -> None:
    reader, writer = await connect(port, deadline, counts)
    try:
        if await command(reader, writer, b"EHLO load.bench.smarthost.test") != 250:
            raise LoadError("EHLO refused")
        while time.monotonic() < deadline:
            # Postfix and Exim declare the size (RFC 1870) when the server offers SIZE.
            mail = b"MAIL FROM:<sender@bench.smarthost.test>"
            if declare:
                mail += b" SIZE=%d" % len(body)
            if await command(reader, writer, mail) != 250:
                raise LoadError("MAIL refused")
            if await command(reader, writer, b"RCPT TO:<sink@bench.invalid>") != 250:
                raise LoadError("RCPT refused")
            code = await command(reader, writer, b"DATA")
            if code == 354:
                # In pieces, so the client never buffers the whole message per session.
                for at in range(0, len(body), 1 << 16):
                    writer.write(body[at : at + (1 << 16)])
                    await writer.drain()
                code = await command(reader, writer, b".")
            if code == 250:
                counts["accepted"] += 1
                await command(reader, writer, b"QUIT")
                return
            if code != 452:
                raise LoadError(f"message refused with {code}")
            counts["retried_452"] += 1
            await asyncio.sleep(1)
        raise LoadError("deadline passed before the message was accepted")
    finally:
        writer.close()


async def run(args) -> int:
    body = message(args.size)
    counts = {"accepted": 0, "retried_452": 0, "retried_421": 0}
    started = time.monotonic()
    deadline = started + args.deadline
    results = await asyncio.gather(
        *(
            send_one(args.port, body, not args.no_size, deadline, counts)
            for _ in range(args.messages)
        ),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, Exception)]
    for error in errors[:5]:
        print(f"body_load: {error!r}", file=sys.stderr)
    print(
        f"accepted={counts['accepted']} retried_452={counts['retried_452']} "
        f"retried_421={counts['retried_421']} "
        f"seconds={time.monotonic() - started:.1f}"
    )
    return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--size", type=int, default=10 * 1024 * 1024)
    parser.add_argument("--deadline", type=float, default=600)
    parser.add_argument(
        "--no-size", action="store_true", help="no SIZE= at MAIL, as most web applications"
    )
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())

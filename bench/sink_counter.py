#!/usr/bin/python3
"""Timestamps what postfix's smtp-sink receives, for bench/e2e.sh (standard library only).

Reads the running counters of `smtp-sink -c` on standard input ("sess=N quit=N mesg=N",
one record per carriage return, written whenever a session ends, a QUIT arrives or a
message's final "." is received) and writes one line "COUNT EPOCH_SECONDS SESSIONS" to
standard output each time the message count or the number of sessions ended grows,
flushed at once (SESSIONS shows how well the client reuses its connections). The benchmark reads the time
of the line where COUNT reached its target: when the last message arrived at the sink.
Ends when smtp-sink closes the pipe.
"""

import re
import sys
import time

RECORD = re.compile(rb"sess=(\d+) .*mesg=(\d+)")


def main() -> int:
    source = sys.stdin.buffer
    pending = b""
    count = sessions = 0
    while True:
        chunk = source.read1(65536)
        if not chunk:
            return 0
        arrived = time.time()
        pending += chunk
        *records, pending = pending.split(b"\r")
        for record in records:
            match = RECORD.search(record)
            if not match:
                continue
            if int(match.group(2)) > count or int(match.group(1)) > sessions:
                sessions, count = int(match.group(1)), int(match.group(2))
                sys.stdout.write(f"{count} {arrived:.6f} {sessions}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Timestamps what postfix's smtp-sink receives, for bench/e2e.sh (standard library only).

Reads the running counters of `smtp-sink -c` on standard input ("sess=N quit=N mesg=N",
one record per carriage return, written whenever a session ends, a QUIT arrives or a
message's final "." is received) and writes one line "COUNT EPOCH_SECONDS" to standard
output each time the message count grows, flushed at once. The benchmark reads the time
of the line where COUNT reached its target: when the last message arrived at the sink.
Ends when smtp-sink closes the pipe.
"""

import re
import sys
import time

RECORD = re.compile(rb"mesg=(\d+)")


def main() -> int:
    source = sys.stdin.buffer
    pending = b""
    count = 0
    while True:
        chunk = source.read1(65536)
        if not chunk:
            return 0
        arrived = time.time()
        pending += chunk
        *records, pending = pending.split(b"\r")
        for record in records:
            match = RECORD.search(record)
            if match and int(match.group(1)) > count:
                count = int(match.group(1))
                sys.stdout.write(f"{count} {arrived:.6f}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""CPU time used so far by processes and their descendants, for bench/e2e.sh.

Prints one number: the seconds of CPU (user + system) that the given processes and all
their living descendants have used, plus what their children already reaped (waited for)
had used (cutime, cstime: a Postfix smtpd that exited is counted in its master's). The
benchmark takes the difference before and after a run: CPU seconds per message, a figure
that depends much less on what else runs on the machine than messages per second.
Standard library only; Linux only.
"""

import os
import sys


def stat_fields(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        # The command name (field 2) may hold spaces: split after its ")".
        return stat.read().rsplit(b")", 1)[1].split()


def main() -> int:
    roots = {int(arg) for arg in sys.argv[1:]}
    if not roots:
        print("usage: cpu_seconds.py PID...", file=sys.stderr)
        return 2
    parent_of: dict[int, int] = {}
    ticks_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = stat_fields(int(entry))
        except OSError:
            continue
        # After the ")": state ppid ... utime stime cutime cstime are fields 14-17 of
        # proc(5), here indices 11-14.
        parent_of[int(entry)] = int(fields[1])
        ticks_of[int(entry)] = sum(int(f) for f in fields[11:15])
    total = 0
    for pid, ticks in ticks_of.items():
        ancestor = pid
        while ancestor > 1 and ancestor not in roots:
            ancestor = parent_of.get(ancestor, 0)
        if ancestor in roots:
            total += ticks
    print(f"{total / os.sysconf('SC_CLK_TCK'):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Peak memory of a process, or of a process and all its descendants, for bench/e2e.sh.

Samples /proc every --interval seconds until SIGTERM (or until the root process is gone)
and prints "peak_rss_mib=… peak_pss_mib=… processes=…": the largest sum over the sampled
processes seen at one instant. PSS (proportional set size, smaps_rollup) shares each page
among the processes that map it, so many Postfix processes mapping the same libraries are
not counted many times; RSS counts them in full. Standard library only; Linux only.
"""

import argparse
import os
import signal
import sys
import time


def children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                # The command name (field 2) may hold spaces: parse after its ")".
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def tree(root: int) -> list[int]:
    children = children_map()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def memory_kib(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pid", type=int, required=True, help="the process to watch")
    parser.add_argument("--tree", action="store_true", help="include all its descendants")
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()

    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    peak_rss = peak_pss = peak_processes = 0
    while not stop and os.path.exists(f"/proc/{args.pid}"):
        pids = tree(args.pid) if args.tree else [args.pid]
        rss = pss = 0
        for pid in pids:
            r, p = memory_kib(pid)
            rss, pss = rss + r, pss + p
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        peak_processes = max(peak_processes, len(pids))
        time.sleep(args.interval)
    print(f"peak_rss_mib={peak_rss / 1024:.0f} peak_pss_mib={peak_pss / 1024:.0f} "
          f"processes={peak_processes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Waits until a server's JSON log holds COUNT finished jobs (job_done or
job_failed lines). argv: LOG COUNT [TIMEOUT_S, default 600]. One process that
reads what the log gained every 50 ms: a `grep -c` per check was a fork and
an exec ten times a second, CPU taken from the server being measured.
Exits 0 when they are there; 1 (and says how many) at the timeout."""
import re
import sys
import time

log, want = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + (float(sys.argv[3]) if len(sys.argv) > 3 else 600)
finished = re.compile(rb'"event":"job_(done|failed)"')
seen, offset, partial = 0, 0, b""
while True:
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        data = b""
    offset += len(data)
    lines = (partial + data).split(b"\n")
    partial = lines.pop()  # an unfinished last line is counted once it is whole
    seen += sum(1 for line in lines if finished.search(line))
    if seen >= want:
        sys.exit(0)
    if time.monotonic() > deadline:
        print(f"ops/bench: only {seen} of {want} jobs finished", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.05)

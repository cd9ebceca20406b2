#!/usr/bin/env python3
"""How far variants fall behind `ready`. argv[1]: client lines "ID MS_TO_201";
argv[2]: the server's JSON log. For each upload whose job_done line is in the
log, prints the ms from its `ready` (the end of announce_ready) to the end of
its variants: the job's total time minus the steps up to `ready`. Under load
that is mostly waiting in the variant backlog (--variant-backlog)."""
import json
import sys

done = {}
with open(sys.argv[2]) as log:
    for line in log:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "job_done" and "steps_ms" in ev:
            done[ev["image_id"]] = ev
before_ready = ("resume", "locate", "probe", "normalise", "store", "announce_ready")
with open(sys.argv[1]) as client:
    for line in client:
        parts = line.split()
        if len(parts) == 2 and parts[0] in done:
            ev = done[parts[0]]
            print(f"{ev['ms'] - sum(ev['steps_ms'].get(k, 0) for k in before_ready):.3f}")

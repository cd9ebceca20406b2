#!/usr/bin/env python3
"""How far variants fall behind `ready`. argv[1]: client lines "ID MS_TO_201";
argv[2]: the server's JSON log. For each upload whose job_done line is in the
log, prints the ms from its `ready` (the end of announce_ready) to the end of
its variants: the job's total time minus the steps up to `ready`. Under load
that is mostly waiting in the variant backlog (--variant-backlog)."""
import sys

from joblog import BEFORE_READY, client_uploads, job_done_events

for ev, _ in client_uploads(sys.argv[1], job_done_events(sys.argv[2])):
    print(f"{ev['ms'] - sum(ev['steps_ms'].get(k, 0) for k in BEFORE_READY):.3f}")

#!/usr/bin/env python3
"""Non-image part of uploads: for each client-side "ID MS_TO_201" line in
argv[1], subtracts the image work of that job (probe + normalise, from the
job_done line's steps_ms in the server log argv[2]) and prints the rest in
ms, one a line. What remains: the body over loopback, multipart parsing,
hashing and staging (fsync), the ingest publish, the worker's locate/store
(fsync + rename) and announce (synced write), applying the ready event to
the index and rendering the 201."""
import json
import sys

image_ms = {}
with open(sys.argv[2]) as log:
    for line in log:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "job_done" and "steps_ms" in ev:
            s = ev["steps_ms"]
            image_ms[ev["image_id"]] = s.get("probe", 0) + s.get("normalise", 0)
with open(sys.argv[1]) as client:
    for line in client:
        parts = line.split()
        if len(parts) == 2 and parts[0] in image_ms:
            print(f"{float(parts[1]) - image_ms[parts[0]]:.3f}")

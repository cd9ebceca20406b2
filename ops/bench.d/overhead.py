#!/usr/bin/env python3
"""Non-image part of uploads. argv[1]: client lines "ID MS_TO_201"; argv[2]:
the server's JSON log. For each upload whose job_done line (with steps_ms)
is in the log, prints five numbers in ms:
  rest     client time to 201 minus the job's probe + normalise
  store    the worker writing the original (temp file, fsync, rename, dir fsync)
  ready    announce_ready: the synced ready event and the index update
           (Kafka: the produce of the ready event until all replicas have it)
  gateway  client time minus the whole job up to announce_ready: the body
           over loopback, multipart parsing, hashing and staging (fsync), the
           ingest publish (synced write), the worker picking the job up, and
           the 201 going back (Kafka: the ingest produce and the worker's
           fetch of it, and the gateway's fetch of the ready event, which can
           overlap the end of announce_ready)
  gbi      gateway + bus + index (the issue's definition of the non-image
           overhead): client time minus what the worker does to the image
           and its files (resume, locate, probe, normalise, store) =
           gateway + ready
"""
import sys

from joblog import BEFORE_READY, client_uploads, job_done_events

for ev, t in client_uploads(sys.argv[1], job_done_events(sys.argv[2])):
    s = ev["steps_ms"]
    image = s.get("probe", 0) + s.get("normalise", 0)
    job = sum(s.get(k, 0) for k in BEFORE_READY)
    worker_files = sum(s.get(k, 0) for k in ("resume", "accept", "locate", "probe", "normalise", "store"))
    print(f"{t - image:.3f} {s.get('store', 0):.3f} {s.get('announce_ready', 0):.3f} {t - job:.3f} "
          f"{t - worker_files:.3f}")

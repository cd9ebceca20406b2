"""What lag.py and overhead.py read: the server's JSON log (job_done lines with
steps_ms, by image id) beside the bench client's lines "ID MS_TO_201"."""
import json

# The steps of a job up to and including `ready` (what the client waits for).
BEFORE_READY = ("resume", "locate", "probe", "normalise", "store", "announce_ready")


def job_done_events(log_path):
    """{image_id: job_done event} for every job_done line with steps_ms."""
    done = {}
    with open(log_path) as log:
        for line in log:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "job_done" and "steps_ms" in ev:
                done[ev["image_id"]] = ev
    return done


def client_uploads(client_path, done):
    """(job_done event, ms to 201) for each client line whose job is in done."""
    with open(client_path) as client:
        for line in client:
            parts = line.split()
            if len(parts) == 2 and parts[0] in done:
                yield done[parts[0]], float(parts[1])

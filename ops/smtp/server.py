#!/usr/bin/python3
"""A local SMTP server (aiosmtpd, Debian python3-aiosmtpd) that keeps every
message it accepts as a file: DIR/<n>.eml, written to a temporary name and
renamed, with the envelope recipients prepended as X-Envelope-To: lines.
For tests and for trying mail without a real mail server; runs in the
foreground until SIGTERM or SIGINT.
  server.py --port P --dir DIR [--host 127.0.0.1]
"""
import argparse
import asyncio
import itertools
import os
import signal
import time

from aiosmtpd.controller import Controller


class Keep:
    def __init__(self, folder):
        self.folder = folder
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        head = "".join(f"X-Envelope-To: {r}\r\n" for r in envelope.rcpt_tos).encode()
        name = f"{time.time_ns()}-{next(self.counter)}.eml"
        tmp = os.path.join(self.folder, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(head + content)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.folder, name))
        return "250 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--host", default="127.0.0.1")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    controller = Controller(Keep(a.dir), hostname=a.host, port=a.port)
    controller.start()
    print(f"smtp listening on {a.host}:{a.port}, messages into {a.dir}", flush=True)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()

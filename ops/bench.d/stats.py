#!/usr/bin/env python3
"""Summarises numbers on stdin (one a line): prints "p50 p99 mean max n".
Percentiles by nearest rank; p99 of fewer than 100 samples is the maximum
or near it, which ops/bench says next to each figure (n)."""
import math
import sys

xs = sorted(float(line) for line in sys.stdin if line.strip())
if not xs:
    print("nan nan nan nan 0")
    sys.exit(0)


def pct(p):
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]


print(f"{pct(50):.2f} {pct(99):.2f} {sum(xs) / len(xs):.2f} {xs[-1]:.2f} {len(xs)}")

#!/usr/bin/env python3
"""Writes a deterministic newline-delimited tick file for benchmarks and tests.

    scripts/make_ticks.py OUT [--events N] [--symbols S] [--rate R] [--disorder-ms D] [--seed X]
                          [--python]

Events are spread at R events per event-second (default 2,000) from 2025-11-20T09:30:00,
with each timestamp jittered back by up to D ms (default 0, in order). About 100 bytes a line.
With --python the same ticks are written as the Python dict literals older socket producers
print (`str(dict)`: single quotes), for comparing the two line forms.
"""
import argparse
import datetime as dt
import random

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--events", type=int, default=1_000_000)
p.add_argument("--symbols", type=int, default=100)
p.add_argument("--rate", type=float, default=2000.0)
p.add_argument("--disorder-ms", type=int, default=0)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--python", action="store_true", help="write Python dict literals, not JSON")
a = p.parse_args()

rng = random.Random(a.seed)
start = dt.datetime(2025, 11, 20, 9, 30, 0)
line = '{"timestamp": "%s", "stock_code": "SYM%03d", "price": %.2f, "volume": %d}\n'
if a.python:
    line = line.replace('"', "'")
prices = [100 + 100 * rng.random() for _ in range(a.symbols)]
with open(a.out, "w") as f:
    for i in range(a.events):
        s = rng.randrange(a.symbols)
        prices[s] = max(1.0, prices[s] * (1 + (rng.random() - 0.5) * 0.01))
        micros = int(i * 1e6 / a.rate) - rng.randrange(a.disorder_ms * 1000 + 1)
        ts = start + dt.timedelta(microseconds=max(0, micros))
        f.write(
            line
            % (ts.strftime("%Y-%m-%dT%H:%M:%S.%f"), s + 1, prices[s], rng.randint(1000, 5000))
        )

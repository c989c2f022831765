#!/usr/bin/env python3
"""Makes some records of a tick file late, deterministically, for allowed-lateness benchmarks.

    scripts/make_late_ticks.py IN OUT [--fraction 0.02] [--min-s 5] [--max-s 20] [--seed 7]

Each line of IN (as scripts/make_ticks.py writes them) stays where it is; a FRACTION of them,
picked by a seeded generator, get their timestamp moved back by a uniform MIN..MAX seconds
(whole milliseconds), so in an in-order file they arrive that far behind the newest record.
"""
import argparse
import datetime as dt
import json
import random

p = argparse.ArgumentParser()
p.add_argument("input")
p.add_argument("out")
p.add_argument("--fraction", type=float, default=0.02)
p.add_argument("--min-s", type=float, default=5.0)
p.add_argument("--max-s", type=float, default=20.0)
p.add_argument("--seed", type=int, default=7)
a = p.parse_args()

rng = random.Random(a.seed)
lo, hi = int(a.min_s * 1000), int(a.max_s * 1000)
late = 0
with open(a.input) as src, open(a.out, "w") as out:
    for line in src:
        if rng.random() < a.fraction:
            r = json.loads(line)
            t = dt.datetime.fromisoformat(r["timestamp"])
            r["timestamp"] = (t - dt.timedelta(milliseconds=rng.randint(lo, hi))).strftime(
                "%Y-%m-%dT%H:%M:%S.%f"
            )
            line = json.dumps(r) + "\n"
            late += 1
        out.write(line)
print(f"{late} records moved back {a.min_s:g}..{a.max_s:g} s")

#!/usr/bin/env python3
"""The live view's cost: a file through tickflow with and without --http-addr, alternating.

Usage: python3 scripts/live_cost.py [FILE]   (default /tmp/ticks1m.jsonl, made by
`python3 scripts/make_ticks.py /tmp/ticks1m.jsonl`; build with `cargo build --release` first)
Environment: W (workers, default 1), N (rounds, default 11), SINK (default discard),
PORT (the endpoint's port, default 18977).
Prints, for each mode, the medians of wall time and of user+system CPU time.
"""
import os
import resource
import statistics
import subprocess
import sys
import time

BINARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "tickflow")
INPUT = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ticks1m.jsonl"
WORKERS = os.environ.get("W", "1")
ROUNDS = int(os.environ.get("N", "11"))
SINK = os.environ.get("SINK", "discard")
PORT = os.environ.get("PORT", "18977")


def measure(with_endpoint):
    """One run: (wall seconds, CPU seconds of the child)."""
    args = [BINARY, "run", "--source", "file:" + INPUT, "--sink", SINK, "-w", WORKERS, "--quiet"]
    if with_endpoint:
        args += ["--http-addr", "127.0.0.1:" + PORT]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


runs = {False: [], True: []}
for _ in range(ROUNDS):
    # Back to back, alternating, so both modes see the same machine.
    for mode in (False, True):
        runs[mode].append(measure(mode))
for mode, label in ((False, "without --http-addr"), (True, "with --http-addr")):
    wall = [w for w, _ in runs[mode]]
    cpu = [c for _, c in runs[mode]]
    print(
        f"-w {WORKERS} {SINK} {label}: wall median {statistics.median(wall):.3f} s "
        f"(min {min(wall):.3f}, max {max(wall):.3f}); CPU median {statistics.median(cpu):.3f} s"
    )

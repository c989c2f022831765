#!/usr/bin/env python3
"""Time and memory of one reclassification while running (README, Benchmarks).

    scripts/reclassify_bench.py TICKFLOW TICKS.jsonl [--pg postgres://root@127.0.0.1:5432/test]

Feeds TICKS (from scripts/make_ticks.py: 100 symbols SYM001..SYM100, in order) on stdin to
`tickflow run` into PostgreSQL (schema `tf_reclassify`, commit interval 20 ms), with 10 sectors
(SYMnnn in SECTOR{nnn % 10}) from a reference CSV and an allowed lateness of 1 h. Once the last
complete window is committed it moves SYM001 from SECTOR1 to SECTOR2 with a valid_from 30 s before the last
tick (a correction of windows already out), waits past the file's re-read interval, and feeds
one more tick, which completes the next window and with it the change's time. It reports the
time from that tick until the revised rows are committed (psql polls every few ms), how many
there are, and the process's peak RSS before and after the change.
"""
import argparse
import datetime as dt
import json
import os
import subprocess
import tempfile
import time

p = argparse.ArgumentParser()
p.add_argument("tickflow")
p.add_argument("ticks")
p.add_argument("--pg", default="postgres://root@127.0.0.1:5432/test")
a = p.parse_args()
SCHEMA = "tf_reclassify"


def sql(query):
    out = subprocess.run(["psql", a.pg, "-qAtc", query], capture_output=True, text=True)
    return out.stdout.strip()


sql("DROP SCHEMA IF EXISTS %s CASCADE" % SCHEMA)
with open(a.ticks, "rb") as f:
    data = f.read()
last = json.loads(data.rstrip().rsplit(b"\n", 1)[-1])
last_ms = int(dt.datetime.fromisoformat(last["timestamp"]).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
completed_end = last_ms // 1000 * 1000


def utc(ms):
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)


ref = os.path.join(tempfile.mkdtemp(), "sectors.csv")


def write_mapping(moved):
    rows = ["symbol,sector,valid_from"] + ["SYM%03d,SECTOR%d," % (i, i % 10) for i in range(1, 101)]
    if moved:
        rows.append("SYM001,SECTOR2,%d" % (last_ms // 1000 - 30))
    with open(ref + ".tmp", "w") as f:
        f.write("\n".join(rows) + "\n")
    os.replace(ref + ".tmp", ref)  # never a half-written file


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))


write_mapping(False)
proc = subprocess.Popen(
    [a.tickflow, "run", "--source", "-", "--quiet", "--max-out-of-orderness", "0s",
     "--allowed-lateness", "1h", "--reference", "file:" + ref, "--sink", a.pg,
     "--pg-schema", SCHEMA, "--pipeline", "reclassify", "--pg-commit-interval", "20ms"],
    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(os.environ.get("LOG", os.devnull), "w"))
start = time.monotonic()
proc.stdin.write(data)
proc.stdin.flush()
done = "SELECT count(*) FROM %s.sector_averages WHERE window_end = '%s'" % (SCHEMA, utc(completed_end).isoformat())
while sql(done) in ("", "0"):
    time.sleep(0.05)
fed_seconds = time.monotonic() - start
rss_before = peak_rss_kb(proc.pid)
revised = "SELECT count(*) FROM %s.sector_averages WHERE revision > 0" % SCHEMA
assert sql(revised) == "0"
write_mapping(True)
time.sleep(1.0)  # the file is looked at every 200 ms
tick = '{"timestamp": "%s", "stock_code": "SYM050", "price": 100.0, "volume": 1}\n' % utc(
    completed_end + 1500).strftime("%Y-%m-%dT%H:%M:%S.%f")
fed = time.monotonic()
proc.stdin.write(tick.encode())
proc.stdin.flush()
seen, stable_since, out_at = "0", None, None
while stable_since is None or time.monotonic() - stable_since < 1.0:
    now = sql(revised)
    if now != seen:
        seen, stable_since, out_at = now, time.monotonic(), time.monotonic()
    elif stable_since is None and seen != "0":
        stable_since = time.monotonic()
    if time.monotonic() - fed > 30:
        break
    time.sleep(0.005)
rss_after = peak_rss_kb(proc.pid)
proc.stdin.close()
proc.wait()
print(json.dumps({
    "ticks_committed_seconds": round(fed_seconds, 2),
    "revised_rows": int(seen),
    "seconds_from_tick_to_revisions_committed": out_at and round(out_at - fed, 3),
    "peak_rss_kb_before": rss_before,
    "peak_rss_kb_after": rss_after,
}))
sql("DROP SCHEMA IF EXISTS %s CASCADE" % SCHEMA)

#!/usr/bin/env python3
"""An independent, naive reference for tickflow's results: every record into every window.

    scripts/reference.py INPUT [--window 60] [--slide 1] [--keep-below 90] [--ooo 5]
                         [--reference SECTORS.csv]

Reads JSON lines (ticks and readings), applies per-file lateness (one partition, in file order:
a record older than max-seen minus the out-of-orderness is dropped), and prints one JSON row a
window, in tickflow's field layout, sorted. Means are exact: the inputs' float values summed
and divided as fractions, rounded to a float once (Python's int division rounds correctly). Written without looking at tickflow's window code, to
cross-check it; slow (O(L/S) per record), so meant for fixtures and test-sized inputs.
With --reference (CSV `symbol,sector[,valid_from]`), also a sector_average row per sector and
window: every tick of the window whose symbol's row with the greatest valid_from before the
window's end names that sector.
"""
import argparse
import ast
import datetime as dt
import json
import math
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

p = argparse.ArgumentParser()
p.add_argument("input")
p.add_argument("--window", type=int, default=60, help="seconds")
p.add_argument("--slide", type=int, default=1, help="seconds")
p.add_argument("--keep-below", type=float, default=90.0)
p.add_argument("--ooo", type=float, default=5.0, help="max out-of-orderness, seconds")
p.add_argument("--reference", help="CSV symbol,sector[,valid_from]: sector rows too")
a = p.parse_args()
L, S = a.window * 1000, a.slide * 1000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def millis(ts):
    if isinstance(ts, (int, float)):
        return int(Decimal(repr(ts)) * 1000)
    t = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    d = t - EPOCH
    return (d.days * 86400 + d.seconds) * 1000 + d.microseconds // 1000


def iso(ms):
    t = EPOCH + dt.timedelta(milliseconds=ms)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    return s + (".%03d" % (ms % 1000) if ms % 1000 else "") + "Z"


ticks = defaultdict(list)
readings = defaultdict(list)
max_seen = None
for line in open(a.input, encoding="utf-8", errors="replace"):
    try:
        try:
            r = json.loads(line)
        except ValueError:
            r = ast.literal_eval(line.strip())  # older producers' Python dict literals
        t = millis(r["timestamp"])
        if "stock_code" in r:
            price, volume = r["price"], r["volume"]
            if not isinstance(price, (int, float)) or not math.isfinite(price) or price < 0:
                continue
            if not isinstance(volume, int) or volume < 0:
                continue
        elif "category" in r:
            value = r["value"]
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
        else:
            continue
    except Exception:
        continue
    if max_seen is not None and t < max_seen - a.ooo * 1000:
        continue  # late
    max_seen = t if max_seen is None else max(max_seen, t)
    # every window end e (a multiple of S) with e - L <= t < e
    first_end = (t // S + 1) * S
    for e in range(first_end, t + L + 1, S):
        if e - L <= t < e:
            if "stock_code" in r:
                ticks[(r["stock_code"], e)].append((float(r["price"]), int(r["volume"])))
            elif "category" in r and r["value"] < a.keep_below:
                readings[(r["category"], e)].append(float(r["value"]))


def mean(total, n):
    """The float nearest to the exact quotient (Fraction.__float__ rounds once)."""
    return float(Fraction(total) / n)


out = []
for (sym, e), xs in ticks.items():
    vol = sum(v for _, v in xs)
    out.append({"kind": "symbol_average", "symbol": sym, "window_start": iso(max(0, e - L)),
                "window_end": iso(e), "avg_price": mean(sum(Fraction(p) for p, _ in xs), len(xs)),
                "min_price": min(p for p, _ in xs), "max_price": max(p for p, _ in xs),
                "vwap": mean(sum(Fraction(p) * v for p, v in xs), vol) if vol else None,
                "ticks": len(xs), "volume": vol})
for (cat, e), xs in readings.items():
    out.append({"kind": "category_mean", "category": cat, "window_start": iso(max(0, e - L)),
                "window_end": iso(e), "mean_value": mean(sum(Fraction(x) for x in xs), len(xs)),
                "readings": len(xs)})


def sector_of(mapping, sym, e):
    """The sector of the row with the greatest valid_from strictly before e (None: always)."""
    rows = [(vf, sector) for s, sector, vf in mapping if s == sym and (vf is None or vf < e)]
    if not rows:
        return None
    return max(rows, key=lambda r: -1 if r[0] is None else r[0])[1]


if a.reference:
    mapping = []
    with open(a.reference, encoding="utf-8") as f:
        next(f)
        for line in f:
            if not line.strip():
                continue
            cells = [c.strip() for c in line.rstrip("\n").split(",")] + [""]
            vf = cells[2]
            if vf == "":
                vf = None
            else:
                try:
                    vf = int(Decimal(vf) * 1000)
                except Exception:
                    vf = millis(vf)
            mapping.append((cells[0], cells[1], vf))
    sectors = defaultdict(list)
    for (sym, e), xs in ticks.items():
        sector = sector_of(mapping, sym, e)
        if sector is not None:
            sectors[(sector, e)].append((sym, xs))
    for (sector, e), groups in sectors.items():
        xs = [x for _, g in groups for x in g]
        vol = sum(v for _, v in xs)
        out.append({"kind": "sector_average", "sector": sector, "window_start": iso(max(0, e - L)),
                    "window_end": iso(e), "avg_price": mean(sum(Fraction(p) for p, _ in xs), len(xs)),
                    "min_price": min(p for p, _ in xs), "max_price": max(p for p, _ in xs),
                    "vwap": mean(sum(Fraction(p) * v for p, v in xs), vol) if vol else None,
                    "ticks": len(xs), "volume": vol, "symbols": len(groups)})
out.sort(key=lambda r: (r["kind"], r.get("symbol") or r.get("category") or r.get("sector"), r["window_end"]))
for r in out:
    print(json.dumps(r, separators=(",", ":")))

#!/usr/bin/env python3
"""Writes the reference CSV of the sector benchmark: the 100 symbols of scripts/make_ticks.py
(SYM001..SYM100) in 10 sectors, SYMnnn in SECTOR{nnn % 10}.

    scripts/make_sectors.py OUT.csv
"""
import sys

with open(sys.argv[1], "w") as f:
    f.write("symbol,sector\n")
    for i in range(1, 101):
        f.write("SYM%03d,SECTOR%d\n" % (i, i % 10))

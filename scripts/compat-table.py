#!/usr/bin/env python3
"""Prints the README's compat table (per area: cases, and pass/fail/skip per endpoint)
from dockbridge-compat JSON reports: compat-table.py NAME=REPORT.json ..."""
import json
import sys
from collections import OrderedDict

columns = []
for arg in sys.argv[1:]:
    name, path = arg.split("=", 1)
    columns.append((name, json.load(open(path))))

areas = OrderedDict()
for _, report in columns:
    for r in report["results"]:
        if r["area"] != "setup":
            areas.setdefault(r["area"], set()).add(r["case"])


def counts(report, area=None):
    c = {"pass": 0, "fail": 0, "skip": 0}
    for r in report["results"]:
        if r["area"] != "setup" and (area is None or r["area"] == area):
            c[r["result"]] = c.get(r["result"], 0) + 1
    return f"{c['pass']} / {c['fail']} / {c['skip']}"


print("| area | cases | " + " | ".join(f"{n} (pass / fail / skip)" for n, _ in columns) + " |")
print("|---|---:|" + "---:|" * len(columns))
for area, cases in areas.items():
    print(f"| {area} | {len(cases)} | " + " | ".join(counts(r, area) for _, r in columns) + " |")
total = sum(len(c) for c in areas.values())
print(f"| **total** | **{total}** | " + " | ".join(f"**{counts(r)}**" for _, r in columns) + " |")

#!/usr/bin/env python3
"""Compares a dockbridge-compat JSON report with the list of known gaps.

Fails when a case fails that is not a known gap (a regression), or when a known gap now
passes (update the list: it only shrinks). `--update` rewrites the list from the report.
"""
import json
import sys

report_path, gaps_path = sys.argv[1], sys.argv[2]
update = "--update" in sys.argv[3:]
report = json.load(open(report_path))
failed = sorted(f"{r['area']}/{r['case']}" for r in report["results"] if r["result"] == "fail")
passed = {f"{r['area']}/{r['case']}" for r in report["results"] if r["result"] == "pass"}
header = [l for l in open(gaps_path) if l.startswith("#")]
gaps = {l.strip() for l in open(gaps_path) if l.strip() and not l.startswith("#")}
if update:
    with open(gaps_path, "w") as f:
        f.writelines(header)
        f.write("\n".join(failed) + "\n")
    print(f"known gaps: {len(failed)} cases written to {gaps_path}")
    sys.exit(0)
regressions = [c for c in failed if c not in gaps]
detail = {f"{r['area']}/{r['case']}": r.get("detail", "") for r in report["results"]}
fixed = sorted(c for c in gaps if c in passed)
print(f"dockbridge compat: {report['passed']} pass, {report['failed']} fail "
      f"({len(gaps)} known gaps, {len(regressions)} regressions), {report['skipped']} skip")
for c in regressions:
    print(f"REGRESSION: {c} fails and is not a known gap: {detail.get(c, '')[:300]}")
for c in fixed:
    print(f"FIXED: {c} passes now: remove it from {gaps_path}")
sys.exit(1 if regressions or fixed else 0)

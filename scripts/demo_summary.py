#!/usr/bin/env python3
"""The demo's closing summary, from the JSON the demo's own commands printed.

    demo_summary.py --scenarios S.json --rules R.json --compliance C.json --report P.json

``S.json``: ``[{"name": "port_scan", "at": "2026-12-01T01:00:00Z"}, ...]`` (what was injected).
A finding belongs to a scenario when its evidence (first to last seen) reaches into the
``--span`` minutes after the scenario started and began at most 15 minutes before it (a spike's
window holds the traffic before the burst); the demo spaces scenarios an hour apart. Any other
finding was raised on clean traffic, and there should be none. Output is deterministic for the same inputs.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


#: how long before a scenario its finding's evidence may start (a spike's or flatline's window
#: holds the traffic before the burst or silence); a longer lead is not the scenario's
_LEAD = timedelta(minutes=15)


def _span(finding: dict) -> tuple[datetime, datetime]:
    """The evidence's time span (a spike's or flatline's starts before the burst or silence:
    its window holds the traffic before it too)."""
    first = _time(finding.get("first_seen") or finding["window"]["start"])
    return first, _time(finding.get("last_seen") or finding.get("first_seen")
                        or finding["window"]["start"])


def summarize(scenarios: list[dict], findings: list[dict], compliance: dict, report: dict,
              span: timedelta, learning: dict[str, str] | None = None) -> list[str]:
    claimed: set[str] = set()
    lines = ["Summary", "  scenarios injected -> findings raised"]
    for scenario in sorted(scenarios, key=lambda s: s["at"]):
        start = _time(scenario["at"])
        mine = [f for f in findings
                if start - _LEAD <= _span(f)[0] < start + span
                and _span(f)[1] >= start - timedelta(minutes=1)]
        claimed.update(f["id"] for f in mine)
        rules = Counter(f["rule"] for f in mine)
        mark = "\u2714" if mine else "\u2716"
        found = ", ".join(f"{rule} x{n}" if n > 1 else rule for rule, n in sorted(rules.items()))
        lines.append(f"    {mark} {scenario['name']:<24} {found or 'no finding'}")
    if learning:
        lines.append("  rules still learning (they need history this data does not cover yet, "
                     "and raise nothing until then):")
        lines.extend(f"    {name} (until {until[:16]})" for name, until in sorted(learning.items()))
    clean = [f for f in findings if f["id"] not in claimed]
    lines.append(f"  findings on clean traffic: {len(clean)} (should be 0)")
    for rule, count in sorted(Counter(f["rule"] for f in clean).items()):
        lines.append(f"    {count:>5}  {rule}")
    by_status = compliance["summary"]["by_status"]
    lines.append("  PCI DSS controls by status: " + ", ".join(
        f"{status} {by_status[status]}" for status in sorted(by_status)))
    score = compliance["summary"].get("score_percent")
    lines.append(f"  requirement score: {'n/a' if score is None else f'{score}%'}; "
                 f"report status: {report['status']}")
    for fmt, path in sorted(report["files"].items()):
        lines.append(f"  report ({fmt}): {path}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("scenarios", "rules", "compliance", "report"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--rule-list", type=Path, help="`monitor rules list --json` (names)")
    parser.add_argument("--span", type=float, default=10.0, help="minutes after a scenario start")
    args = parser.parse_args()
    load = lambda path: json.loads(path.read_text())  # noqa: E731
    run = load(args.rules)
    names = {r["id"]: r["name"] for r in load(args.rule_list)} if args.rule_list else {}
    learning = {names.get(rule_id, rule_id): until
                for rule_id, until in (run.get("learning") or {}).items()}
    lines = summarize(load(args.scenarios), run["results"], load(args.compliance),
                      load(args.report), timedelta(minutes=args.span), learning)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

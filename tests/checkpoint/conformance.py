"""Conformance of ``normalize_checkpoint`` against Elastic's expected ECS output (shared corpus).

Used by ``test_conformance.py`` and runnable on its own to print the agreement table for
``docs/checkpoint-conformance.md``::

    python -m tests.checkpoint.conformance /work/shared

Agreement for a field = lines where Elastic's expected document has the field and ours has the
same value, over lines where Elastic's has it (a field we do not produce counts as a miss;
fields only we produce are counted separately as "extra").
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.model import DeadLetter, RawRecord
from monitor.normalize import normalize_checkpoint

FIELDS = ("@timestamp", "event.action", "event.outcome", "event.category", "source.ip",
          "source.port", "destination.ip", "destination.port", "network.transport", "rule.name",
          "rule.id", "observer.name", "observer.product", "user.name")
RECEIVED = datetime(2026, 11, 25, tzinfo=UTC)

# expected file → input file when the expected documents carry no event.original
_PAIRED_INPUTS = {
    "beats-filebeat-module/checkpoint.log-expected.json": "beats-filebeat-module/checkpoint.log",
    "beats-filebeat-module/checkpoint_with_time.log-expected.json":
        "beats-filebeat-module/checkpoint_with_time.log",
    "beats-filebeat-module/R80.X.log-expected.json": "beats-filebeat-module/R80.X.log",
    "beats-filebeat-module/R81.X.log-expected.json": "beats-filebeat-module/R81.X.log",
    "beats-filebeat-module/trailing-space.log-expected.json":
        "beats-filebeat-module/trailing-space.log",
    "beats-cef-module/checkpoint.log-expected.json": "beats-cef-module/checkpoint.log",
    "elastic-integrations/test-checkpoint-with-time.log-expected.json":
        "elastic-integrations/test-checkpoint-with-time.log",
}


def lookup(doc: dict[str, Any], dotted: str) -> Any:
    if dotted in doc:
        return doc[dotted]
    current: Any = doc
    for part in dotted.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _canon(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "@timestamp":
        text = str(value)
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            return text
    if name == "event.category":
        return frozenset(value if isinstance(value, list) else [value])
    if isinstance(value, list):
        return tuple(str(v) for v in value) if len(value) != 1 else str(value[0])
    return str(value)


@dataclass
class Pair:
    file: str
    line: int
    raw: str
    expected: dict[str, Any]


@dataclass
class Report:
    pairs: int = 0
    dead_letters: list[tuple[str, int, str]] = field(default_factory=list)
    compared: Counter[str] = field(default_factory=Counter)
    agreed: Counter[str] = field(default_factory=Counter)
    extra: Counter[str] = field(default_factory=Counter)
    differences: list[tuple[str, str, int, Any, Any]] = field(default_factory=list)

    def ratio(self, name: str | None = None) -> float:
        if name is None:
            total = sum(self.compared.values())
            return sum(self.agreed.values()) / total if total else 1.0
        return self.agreed[name] / self.compared[name] if self.compared[name] else 1.0


def load_pairs(corpus: Path) -> list[Pair]:
    pairs: list[Pair] = []
    for path in sorted(corpus.rglob("*-expected.json")):
        rel = str(path.relative_to(corpus))
        data = json.loads(path.read_text(encoding="utf-8"))
        events = data["expected"] if isinstance(data, dict) else data
        inputs: list[str] | None = None
        if rel in _PAIRED_INPUTS:
            inputs = (corpus / _PAIRED_INPUTS[rel]).read_text(encoding="utf-8").splitlines()
        for index, event in enumerate(events):
            raw = lookup(event, "event.original")
            if raw is None and inputs is not None and index < len(inputs):
                raw = inputs[index]
            if raw is None:
                continue
            pairs.append(Pair(rel, index + 1, raw, event))
    return pairs


def all_raw_lines(corpus: Path) -> list[tuple[str, int, bytes]]:
    lines = []
    for path in sorted(corpus.rglob("*.log")):
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if line.strip():
                lines.append((str(path.relative_to(corpus)), number, line))
    return lines


def run(corpus: Path) -> Report:
    report = Report()
    for pair in load_pairs(corpus):
        report.pairs += 1
        result = normalize_checkpoint(RawRecord("corpus", pair.raw.encode(), RECEIVED))
        if isinstance(result, DeadLetter):
            report.dead_letters.append((pair.file, pair.line, result.reason))
            ours: dict[str, Any] = {}
        else:
            ours = result.source
        for name in FIELDS:
            want = _canon(name, lookup(pair.expected, name))
            got = _canon(name, lookup(ours, name))
            if want is None:
                if got is not None:
                    report.extra[name] += 1
                continue
            report.compared[name] += 1
            if want == got:
                report.agreed[name] += 1
            else:
                report.differences.append((name, pair.file, pair.line, want, got))
    return report


def markdown(report: Report) -> str:
    rows = ["| field | compared | agreed | agreement | extra (only ours) |",
            "|---|---:|---:|---:|---:|"]
    for name in FIELDS:
        rows.append(f"| `{name}` | {report.compared[name]} | {report.agreed[name]} | "
                    f"{100 * report.ratio(name):.1f}% | {report.extra[name]} |")
    total = sum(report.compared.values())
    rows.append(f"| **all** | {total} | {sum(report.agreed.values())} | "
                f"**{100 * report.ratio():.1f}%** | {sum(report.extra.values())} |")
    return "\n".join(rows)


if __name__ == "__main__":
    base = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared") / "corpus" / "checkpoint"
    result = run(base)
    print(f"pairs: {result.pairs}, dead letters: {len(result.dead_letters)}")
    print(markdown(result))
    for name, file, line, want, got in result.differences:
        print(f"- {name} {file}:{line}: elastic={want!r} ours={got!r}")

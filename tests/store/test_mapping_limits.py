"""Sender-controlled ``checkpoint.*`` keys cannot explode the mapping or blind the rules."""
from __future__ import annotations

import re
from datetime import UTC, datetime

from monitor.model import Document, RawRecord
from monitor.normalize import normalize_checkpoint
from monitor.resources import rules_dir
from monitor.store import BulkWriter
from monitor.store.mappings import CHECKPOINT_QUERIED_FIELDS, KIND_MAPPINGS

#: ``checkpoint.<x>`` that are event.dataset values, not fields
_DATASETS = {"firewall", "audit", "threat", "inventory"}


def test_every_checkpoint_field_a_rule_queries_is_mapped_up_front():
    mapped = set(KIND_MAPPINGS["events"]["checkpoint"]["properties"])
    assert set(CHECKPOINT_QUERIED_FIELDS) <= mapped
    referenced: set[str] = set()
    for path in rules_dir().rglob("*.yaml"):
        if path.name.endswith(".fixtures.yaml"):
            continue
        referenced |= set(re.findall(r"(?<![\w/.])checkpoint\.([a-z_]+)\b(?!\.)", path.read_text()))
    referenced -= _DATASETS
    assert referenced, "the packs query checkpoint.* fields; the scan found none"
    assert referenced <= mapped, f"queried but not mapped up front: {sorted(referenced - mapped)}"


def _line(n: int, keys: int) -> bytes:
    junk = "; ".join(f'x{n}_{j}:"v{j}"' for j in range(keys))
    return (f'<134>1 2026-11-02T10:00:0{n % 10}Z gw-1 CheckPoint 1 - [loguid:"{{0x{n:x},0x1}}"; '
            f'time:"{1793959200 + n}"; product:"SmartConsole"; operation:"Publish"; '
            f'administrator:"mallory"; {junk}]').encode()


async def test_flood_of_unknown_keys_is_indexed_and_rules_still_see_known_fields(store):
    now = datetime(2026, 11, 2, tzinfo=UTC)
    # 10 records x 500 new keys each: past the 4,000-field limit of the index
    docs = [normalize_checkpoint(RawRecord("test", _line(n, 500), now)) for n in range(10)]
    assert all(isinstance(d, Document) for d in docs)
    result = await BulkWriter(store).write(docs, refresh=True)
    assert (result.indexed, result.dead_lettered) == (10, 0)

    index = store.names.read("events")
    found = await store.es.count(index=index, query={"bool": {"filter": [
        {"term": {"checkpoint.operation": "Publish"}},
        {"term": {"checkpoint.administrator": "mallory"}}]}})
    assert found["count"] == 10
    overflow = await store.es.search(index=index, query={"exists": {"field": "_ignored"}},
                                     size=10, fields=["_ignored"])
    ignored = [f for hit in overflow["hits"]["hits"] for f in hit["fields"]["_ignored"]]
    assert ignored and all(f.startswith("checkpoint.x") for f in ignored)
    # the overflowing values are still evidence: kept in _source
    sample = overflow["hits"]["hits"][0]
    assert any(k.startswith("x") for k in sample["_source"]["checkpoint"])

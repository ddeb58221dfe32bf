"""A forged line with a predicted loguid must not pre-empt the real log (it used to take the
real log's _id, so the real one was dropped as a 409 duplicate), while replays of the same
record stay idempotent. Against the real Elasticsearch, through the real normalizer (fast path
included)."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from monitor.model import Document, RawRecord
from monitor.normalize import normalize_checkpoint
from monitor.simulate import SimConfig, generate
from monitor.store import BulkWriter


def _doc(line: str) -> Document:
    result = normalize_checkpoint(RawRecord("checkpoint:syslog", line.encode(),
                                            datetime.now(UTC)))
    assert isinstance(result, Document)
    return result


async def test_forged_loguid_does_not_replace_the_real_log(store: Any) -> None:
    real = next(iter(generate(SimConfig(count=1, seed=5))))[1]
    real = real.replace("2026-01-01T00:00:00Z", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    forged = re.sub(r'; src:"[^"]*"', '; src:"198.51.100.66"', real)  # same loguid, other data
    assert forged != real
    head = real.split(" ")
    relayed = " ".join([*head[:2], "relay-7", *head[3:]])  # a relay rewrote the header host
    writer = BulkWriter(store)
    first = await writer.write([_doc(forged)], refresh=True, check_time=True)
    second = await writer.write([_doc(real)], refresh=True, check_time=True)
    assert first.indexed == 1 and second.indexed == 1  # the real log is stored, not a "duplicate"
    replay = await writer.write([_doc(real), _doc(relayed), _doc(forged)], refresh=True,
                                check_time=True)
    assert replay.duplicates == 3 and replay.indexed == 0  # replays stay idempotent
    hits = (await store.es.search(index=store.names.read("events"),
                                  query={"match_all": {}}))["hits"]["hits"]
    assert len(hits) == 2
    assert len({hit["_source"]["event"]["id"] for hit in hits}) == 1  # the conflict is visible
    assert "198.51.100.66" in {hit["_source"]["source"]["ip"] for hit in hits}

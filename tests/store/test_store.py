"""Store layer against the real Elasticsearch: templates, bulk, replay, dead letters, CAS."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import ConflictError, StoreUnavailable
from monitor.model import DeadLetter, Document
from monitor.settings import BulkSettings, ElasticsearchSettings
from monitor.store import BulkWriter, StateStore, Store, open_store
from monitor.store.search import search
from monitor.store.setup import apply_retention, install_templates, template_status
from monitor.store.stats import count_docs


def _docs(n: int, start: int = 0) -> list[Document]:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    return [Document("events", f"ev-{i}", {
        "@timestamp": (base + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
        "event": {"action": "accept" if i % 3 else "drop", "dataset": "checkpoint.firewall"},
        "source": {"ip": f"10.0.{(i >> 8) & 255}.{i & 255}", "port": 1024 + i % 50000},
        "destination": {"ip": "192.0.2.10", "port": 443},
    }) for i in range(start, start + n)]


async def _count(store: Store, kind: str) -> int:
    return await count_docs(store, kind)


async def test_templates_install_twice_without_change(store):
    # the fixture installed them once already
    again = await install_templates(store)
    assert again and all(s.action == "unchanged" for s in again)
    status = await template_status(store)
    assert {s.name for s in status} == {f"{store.names.prefix}-{k}" for k in
                                        ("events", "changes", "findings", "compliance", "reports",
                                         "deadletter", "state", "inventory")}
    # a drifted template is detected as outdated and repaired
    name = f"{store.names.prefix}-events"
    current = (await store.es.indices.get_index_template(name=name))["index_templates"][0]
    body = current["index_template"]
    body["_meta"]["hash"] = "tampered"
    body = {k: v for k, v in body.items() if k in ("index_patterns", "priority", "template", "_meta")}
    await store.es.indices.put_index_template(name=name, **body)
    assert {s.name: s.action for s in await template_status(store)}[name] == "outdated"
    repaired = {s.name: s.action for s in await install_templates(store)}
    assert repaired[name] == "updated"


async def test_bulk_100k_exact_count_and_replay_is_idempotent(store):
    writer = BulkWriter(store)
    docs = _docs(100_000)
    first = await writer.write(docs, refresh=True)
    assert (first.indexed, first.duplicates, first.dead_lettered) == (100_000, 0, 0)
    assert await _count(store, "events") == 100_000
    replay = await writer.write(docs[:20_000] + _docs(5, start=100_000), refresh=True)
    assert replay.duplicates == 20_000 and replay.indexed == 5
    assert await _count(store, "events") == 100_005


async def test_rejected_document_is_dead_lettered_and_batch_survives(store):
    writer = BulkWriter(store, BulkSettings(chunk_docs=50))
    docs = _docs(120)
    bad = Document("events", "bad-1", {"@timestamp": "2026-11-01T00:00:00Z",
                                       "source": {"ip": "not-an-ip<script>"}})
    docs.insert(37, bad)
    result = await writer.write(docs, refresh=True)
    assert result.indexed == 120 and result.dead_lettered == 1
    assert await _count(store, "events") == 120
    hits = (await search(store, "deadletter", {}))["hits"]["hits"]
    assert len(hits) == 1
    letter = hits[0]["_source"]["deadletter"]
    assert "not-an-ip<script>" in letter["raw"]  # raw payload kept verbatim
    assert "mapper_parsing_exception" in letter["reason"] or "failed to parse" in letter["reason"]
    assert letter["target_index"].startswith(f"{store.names.prefix}-events-")


async def test_parse_dead_letters_keep_raw_bytes(store):
    writer = BulkWriter(store)
    raw = b"\xff\xfegarbage \x00 line"
    result = await writer.write([DeadLetter("checkpoint:file", raw, "no key:value fields")],
                                refresh=True)
    assert (result.indexed, result.dead_lettered) == (0, 1)
    hit = (await search(store, "deadletter", {}))["hits"]["hits"][0]["_source"]
    import base64
    assert base64.b64decode(hit["deadletter"]["raw_base64"]) == raw


async def test_state_compare_and_set_detects_conflict(store):
    state = StateStore(store)
    created = await state.put("cursor:a", {"until": 1}, None)
    with pytest.raises(ConflictError):
        await state.put("cursor:a", {"until": 2}, None)  # must not exist
    second = await state.put("cursor:a", {"until": 2}, created)
    with pytest.raises(ConflictError):
        await state.put("cursor:a", {"until": 3}, created)  # stale version
    assert (await state.get("cursor:a")).value == {"until": 2}
    assert second.seq_no > created.seq_no


async def test_lease_single_holder_and_takeover_after_expiry(store):
    state = StateStore(store)
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    a = await state.acquire_lease("lease:active", "a", timedelta(seconds=15), now=now)
    b = await state.acquire_lease("lease:active", "b", timedelta(seconds=15), now=now)
    assert a.held and not b.held and b.holder == "a"
    renewed = await state.acquire_lease("lease:active", "a", timedelta(seconds=15),
                                        now=now + timedelta(seconds=5))
    assert renewed.held
    later = await state.acquire_lease("lease:active", "b", timedelta(seconds=15),
                                      now=now + timedelta(seconds=21))
    assert later.held and later.holder == "b"


async def test_retention_deletes_whole_old_months(store):
    writer = BulkWriter(store)
    old = Document("events", "old", {"@timestamp": "2024-01-15T00:00:00Z"})
    new = Document("events", "new", {"@timestamp": "2026-10-15T00:00:00Z"})
    await writer.write([old, new], refresh=True)
    deleted = await apply_retention(store, {"events": 13},
                                    now=datetime(2026, 11, 25, tzinfo=UTC))
    assert deleted == [f"{store.names.prefix}-events-2024.01"]
    assert await _count(store, "events") == 1


async def test_unreachable_elasticsearch_raises_store_unavailable(es_prefix):
    settings = ElasticsearchSettings(hosts=["http://127.0.0.1:9"], request_timeout_seconds=1,
                                     bulk=BulkSettings(max_retries=1, initial_backoff_seconds=0.01))
    store = open_store(settings, prefix=es_prefix)
    try:
        with pytest.raises(StoreUnavailable):
            await BulkWriter(store).write(_docs(3))
        assert not await store.ready()
    finally:
        await store.close()


async def test_capabilities_detected_on_minimal_build(store):
    caps = store.capabilities
    assert caps is not None and caps.version.startswith("9.")
    # the integ-test build has no painless/ingest: the daemon must know it is minimal
    assert caps.minimal == (not caps.has("painless"))


async def test_every_document_gets_an_ingest_time_late_data_can_cursor_on(store):
    """Change documents carry their commit time only; the writer stamps event.ingested (the
    rules' late-data cursor reads it), and keeps a receive time a normalizer already set."""
    written_at = datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)
    writer = BulkWriter(store, clock=lambda: written_at)
    commit_time = "2026-11-30T11:50:00Z"
    docs = [Document("changes", "late-commit", {"@timestamp": commit_time, "message": "fix",
                                                "event": {"kind": "event", "dataset": "git.commit"}}),
            Document("changes", "bare", {"@timestamp": commit_time, "message": "no event"}),
            Document("events", "received", {"@timestamp": commit_time,
                                             "event": {"ingested": "2026-11-30T11:59:00.000Z"}})]
    result = await writer.write(docs, refresh=True)
    assert result.indexed == 3
    got = {}
    for kind in ("changes", "events"):
        hits = (await search(store, kind, {"query": {"match_all": {}}}))["hits"]["hits"]
        got.update({h["_id"]: h["_source"]["event"]["ingested"] for h in hits})
    assert got == {"late-commit": "2026-11-30T12:00:05.000Z", "bare": "2026-11-30T12:00:05.000Z",
                   "received": "2026-11-30T11:59:00.000Z"}

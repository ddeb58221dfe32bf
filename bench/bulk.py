#!/usr/bin/env python3
"""Bulk writer throughput vs a raw ``_bulk`` of the same pre-serialized documents.

Both sides write the same firewall-shaped ECS documents (op_type create, stable ids) into
fresh indices created from the same template, 2 requests in flight, 5,000 docs per request.
The baseline gets its NDJSON bodies built before the clock starts; the writer builds them
from Python dicts on the clock, as in production. Rounds alternate to spread machine noise.

    python bench/bulk.py [--url http://127.0.0.1:9200] [--docs 200000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.model import Document
from monitor.settings import ElasticsearchSettings
from monitor.store import BulkWriter, open_store
from monitor.store.search import drop_prefix
from monitor.store.setup import install_templates


def make_docs(n: int) -> list[Document]:
    base = datetime(2026, 11, 10, tzinfo=UTC)
    docs = []
    for i in range(n):
        ts = (base + timedelta(milliseconds=i * 7)).isoformat().replace("+00:00", "Z")
        docs.append(Document("events", f"{i:012d}", {
            "@timestamp": ts,
            "event": {"kind": "event", "category": ["network"], "type": ["connection"],
                      "action": "Accept" if i % 4 else "Drop", "dataset": "checkpoint.firewall",
                      "outcome": "success"},
            "source": {"ip": f"10.{i % 200}.{(i >> 8) & 255}.{i & 255}", "port": 1024 + i % 60000},
            "destination": {"ip": f"192.0.2.{i % 250}", "port": (443, 80, 22, 3389)[i % 4]},
            "network": {"transport": "tcp", "direction": "inbound"},
            "observer": {"name": f"gw-{i % 4}", "product": "VPN-1 & FireWall-1",
                         "vendor": "Checkpoint"},
            "rule": {"name": f"rule {i % 40}", "id": f"{i % 40:08d}-aaaa"},
            "checkpoint": {"loguid": f"{{0x{i:08x},0x0,0x1,0x2}}", "ifname": "eth1"},
        }))
    return docs


def raw_bodies(index: str, docs: list[Document], per: int) -> list[bytes]:
    bodies = []
    for start in range(0, len(docs), per):
        parts = []
        for doc in docs[start:start + per]:
            parts.append(orjson.dumps({"create": {"_index": index, "_id": doc.id}}))
            parts.append(orjson.dumps(doc.source))
        bodies.append(b"\n".join(parts) + b"\n")
    return bodies


async def run_raw(url: str, bodies: list[bytes], in_flight: int) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        queue = list(bodies)
        start = time.perf_counter()

        async def worker() -> None:
            while queue:
                body = queue.pop(0)
                r = await client.post("/_bulk", content=body,
                                      headers={"content-type": "application/x-ndjson"},
                                      params={"filter_path": "errors"})
                r.raise_for_status()
                assert r.json()["errors"] is False

        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return time.perf_counter() - start


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("MONITOR_TEST_ES_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=3,
                        help="writer requests in flight (the baseline always uses 2)")
    args = parser.parse_args()
    docs = make_docs(args.docs)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    store = open_store(ElasticsearchSettings(hosts=[args.url]), prefix=prefix)
    await install_templates(store)
    index_month = store.names.write("events", docs[0].source["@timestamp"])
    raw_rates, writer_rates = [], []
    try:
        for round_ in range(args.rounds):
            raw_index = f"{prefix}-events-raw{round_}"
            bodies = raw_bodies(raw_index, docs, 5000)
            elapsed = await run_raw(args.url, bodies, 2)
            raw_rates.append(args.docs / elapsed)
            await store.es.indices.delete(index=raw_index)

            settings = store.settings.bulk.model_copy(update={"max_in_flight": args.in_flight})
            writer = BulkWriter(store, settings)
            start = time.perf_counter()
            result = await writer.write(docs)
            elapsed = time.perf_counter() - start
            assert result.indexed == args.docs, result
            writer_rates.append(args.docs / elapsed)
            await store.es.indices.delete(index=index_month)
            print(f"round {round_ + 1}: raw {raw_rates[-1]:,.0f} docs/s, "
                  f"writer {writer_rates[-1]:,.0f} docs/s", flush=True)
    finally:
        await drop_prefix(store)
        await store.close()
    raw, writer_rate = statistics.median(raw_rates), statistics.median(writer_rates)
    ratios = [w / r for w, r in zip(writer_rates, raw_rates, strict=True)]
    print(f"raw _bulk (prebuilt NDJSON, 2 in flight): {raw:,.0f} docs/s (median of {args.rounds})")
    print(f"BulkWriter (dicts → orjson → _bulk, {args.in_flight} in flight): "
          f"{writer_rate:,.0f} docs/s")
    print("per-round ratios: " + ", ".join(f"{r:.2f}" for r in ratios))
    print(f"ratio writer/raw: median {statistics.median(ratios):.2f}  (target >= 0.80)")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

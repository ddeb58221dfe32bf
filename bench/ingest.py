#!/usr/bin/env python3
"""File → indexed documents per second (``ingest_files``: read, normalize, bulk) vs a raw
``_bulk`` of the very same documents (NDJSON bodies prebuilt before the clock, 2 requests in
flight, 5,000 docs each). Each side writes into its own fresh index prefix (same templates);
both are deleted afterwards. Prints docs/s and the ratio. Not a test.

    python bench/ingest.py [--url http://127.0.0.1:9200] [--lines 100000] [--rounds 1]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.daemon.file_runs import ingest_files
from monitor.model import Document, RawRecord
from monitor.normalize import normalize_checkpoint
from monitor.settings import ElasticsearchSettings
from monitor.simulate import SimConfig, generate
from monitor.store import BulkWriter, open_store
from monitor.store.search import drop_prefix
from monitor.store.setup import install_templates
from monitor.store.writer import source_json


async def fresh_store(url: str):  # type: ignore[no-untyped-def]  # benchmark helper
    store = open_store(ElasticsearchSettings(hosts=[url]), prefix=f"bench-{uuid.uuid4().hex[:8]}")
    await install_templates(store)
    return store


async def drop(store) -> None:  # type: ignore[no-untyped-def]  # benchmark helper
    await drop_prefix(store)
    await store.close()


async def raw_bulk(url: str, store, docs: list[Document]) -> float:  # type: ignore[no-untyped-def]  # benchmark helper
    bodies = []
    for start in range(0, len(docs), 5000):
        parts = []
        for doc in docs[start:start + 5000]:
            index = store.names.write("events", doc.source["@timestamp"])
            parts.append(orjson.dumps({"create": {"_index": index, "_id": doc.id}}))
            parts.append(source_json(doc.source))
        bodies.append(b"\n".join(parts) + b"\n")
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        queue = list(bodies)
        started = time.perf_counter()

        async def worker() -> None:
            while queue:
                body = queue.pop(0)
                answer = await client.post("/_bulk", content=body, headers={
                    "content-type": "application/x-ndjson"}, params={"filter_path": "errors"})
                assert answer.json().get("errors") is False, answer.text[:300]

        await asyncio.gather(worker(), worker())
        return len(docs) / (time.perf_counter() - started)


async def run(args: argparse.Namespace) -> None:
    fd, path = tempfile.mkstemp(suffix=".log")
    with os.fdopen(fd, "w") as out:
        for _, line in generate(SimConfig(count=args.lines, seed=43)):
            out.write(line + "\n")
    now = datetime.now(UTC)
    with open(path, "rb") as handle:
        docs = [normalize_checkpoint(RawRecord("checkpoint:file:bench.log", line.rstrip(b"\n"),
                                               now)) for line in handle]
    assert all(isinstance(d, Document) for d in docs)
    file_rates, raw_rates = [], []
    try:
        for _ in range(args.rounds):
            store = await fresh_store(args.url)
            try:
                started = time.perf_counter()
                stats = await ingest_files([path], BulkWriter(store))
                file_rates.append(stats.indexed / (time.perf_counter() - started))
                assert stats.indexed == args.lines, stats
            finally:
                await drop(store)
            store = await fresh_store(args.url)
            try:
                raw_rates.append(await raw_bulk(args.url, store, docs))  # type: ignore[arg-type]  # benchmark helper
            finally:
                await drop(store)
    finally:
        os.unlink(path)
    file_rate, raw_rate = statistics.median(file_rates), statistics.median(raw_rates)
    print(f"{args.lines:,} generated Log Exporter lines, {args.rounds} round(s)")
    print(f"file -> indexed (read+normalize+bulk): {file_rate:>10,.0f} docs/s")
    print(f"raw _bulk of the same documents:       {raw_rate:>10,.0f} docs/s")
    print(f"ratio: {file_rate / raw_rate:.3f}   load average {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("MONITOR_TEST_ES_URL",
                                                        "http://127.0.0.1:9200"))
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

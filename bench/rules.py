#!/usr/bin/env python3
"""Every pack rule over >= 2M indexed events: engine time vs Elasticsearch's own time.

Generates firewall/audit/VPN/IPS-shaped ECS documents directly (plus Git change documents and a
few injected attacks), bulk-loads them into a throw-away prefix (prebuilt NDJSON, 5,000 docs per
request, 2 in flight, refresh off), then:

1. backfill: every pack rule over the whole span with ``evaluate_range`` (1-hour segments);
2. steady state: one 5-minute evaluation, as the daemon runs it;

and for each prints wall time, the number of ``_msearch`` round trips, the sum of
Elasticsearch's ``took`` seen by the engine, the engine's own CPU time, and the ``took`` of the
SAME request bodies replayed raw with the client, one ``_msearch`` after the other (the baseline
measured in the same run). Overhead ratio = engine wall / raw took. The engine keeps two
segments in flight (Elasticsearch searches one while the engine parses the other), so the took
it sees overlaps and can exceed its wall: its CPU time is the measure of its own work. The
prefix is deleted afterwards. Timings are noisy on a shared machine: never a test.

    python bench/rules.py [--url http://127.0.0.1:9200] [--events 2000000] [--keep]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.detect.engine import evaluate_range
from monitor.detect.loader import load_rules
from monitor.inventory import inventory_from_dict
from monitor.settings import ElasticsearchSettings
from monitor.store import open_store
from monitor.store.search import SearchStats, drop_prefix
from monitor.store.setup import install_templates

START = datetime(2026, 2, 10, 0, 0, tzinfo=UTC)
HOURS = 6
ADMINS = [f"admin{i}" for i in range(10)]
GATEWAYS = ["gw-edge-1", "gw-edge-2", "gw-cde-1", "gw-dmz-1"]
#: the inventory describing the bench's network (its CDE, gateways, management server,
#: calendars): the pack's inventory-driven rules are bound to it, as the daemon binds them
BENCH_INVENTORY = inventory_from_dict({
    "zones": [{"name": "cde", "cde": True, "networks": ["10.10.0.0/16"]},
              {"name": "internal", "networks": ["10.0.0.0/8"]}],
    "gateways": [{"name": name} for name in GATEWAYS],
    "management_servers": [{"name": "mgmt-1"}],
    "admin_workstations": ["10.0.5.0/24"],
    "change_windows": [{"days": ["mon", "tue", "wed", "thu"], "start": "09:00", "end": "16:00"}],
    "business_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00",
                        "end": "19:00"}],
    "production_environments": ["production", "prod"],
}, "bench inventory")
RULE_NAMES = ["Allow web", "DNS out", "CDE to DB", "Mgmt", "Cleanup rule", "VPN users",
              "Backup", "NTP", "Syslog", "Monitoring"]
PORTS = [443, 80, 53, 22, 123, 3389, 1433, 445, 25, 8443, 389, 636]


def _ts(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def generate(n: int, seed: int = 5):
    """Yield (id, doc) in time order."""
    rng = random.Random(seed)
    span = HOURS * 3600.0
    sources = [f"10.{rng.randint(1, 60)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
               for _ in range(15000)] + [f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                                        for _ in range(5000)]
    servers = [f"10.{rng.choice((20, 30))}.{rng.randint(0, 15)}.{rng.randint(1, 254)}"
               for _ in range(2000)]
    cde = [f"10.10.{rng.randint(0, 3)}.{rng.randint(1, 254)}" for _ in range(200)]
    weights = [1 / (i + 1) ** 0.8 for i in range(len(sources))]
    src_pick = rng.choices(range(len(sources)), weights, k=n)
    # clients talk to a handful of servers (95 %), like real ones; the rest is random
    usual = [[servers[(j * 7919 + m * 104729) % len(servers)] for m in range(6)]
             for j in range(len(sources))]
    for i in range(n):
        moment = START + timedelta(seconds=span * i / n)
        roll = rng.random()
        doc: dict = {"@timestamp": _ts(moment), "observer": {"vendor": "Checkpoint",
                                                            "name": rng.choice(GATEWAYS)}}
        if roll < 0.90:
            action = "Accept" if rng.random() < 0.8 else "Drop"
            to_cde = rng.random() < 0.1  # the CDE only takes HTTPS
            doc.update(event={"kind": "event", "category": ["network"], "action": action,
                              "id": f"fw-{i}"},
                       source={"ip": sources[src_pick[i]], "port": rng.randint(1024, 65535)},
                       destination={"ip": rng.choice(cde) if to_cde else
                                    rng.choice(usual[src_pick[i]]) if rng.random() < 0.95
                                    else rng.choice(servers),
                                    "port": 443 if to_cde else rng.choice(PORTS)},
                       network={"transport": "tcp"},
                       rule={"name": rng.choice(RULE_NAMES[:4]) if action == "Accept"
                             else "Cleanup rule"})
            doc["observer"]["product"] = "VPN-1 & FireWall-1"
        elif roll < 0.95:
            admin = rng.choice(ADMINS)
            op = rng.choice(("Log In", "Log In", "Log Out", "Modify Rule"))
            outcome = "failure" if op == "Log In" and rng.random() < 0.05 else "success"
            doc.update(event={"kind": "event", "category": ["authentication"], "id": f"au-{i}",
                              "action": "logon-failed" if outcome == "failure" else "Accept",
                              "outcome": outcome},
                       user={"name": admin}, source={"ip": f"10.0.5.{ADMINS.index(admin) + 2}"},
                       checkpoint={"operation": op, "session_uid": f"s-{i // 50}",
                                   "fieldschanges": "Destination: Added 'web-01'"})
            doc["observer"].update(product="SmartConsole", name="mgmt-1")
        elif roll < 0.98:
            ok = rng.random() < 0.9
            doc.update(event={"kind": "event", "category": ["authentication"], "id": f"vpn-{i}",
                              "action": "logged-in" if ok else "logon-failed",
                              "outcome": "success" if ok else "failure"},
                       user={"name": f"user{rng.randint(1, 3000)}"},
                       source={"ip": sources[src_pick[i]]})
            doc["observer"]["product"] = "Connectra"
        else:
            doc.update(event={"kind": "alert", "category": ["network"], "id": f"ips-{i}",
                              "action": rng.choice(("Detect", "Prevent")),
                              "severity": rng.choice((1, 2, 3))},
                       source={"ip": sources[src_pick[i]]},
                       destination={"ip": rng.choice(servers)},
                       checkpoint={"protection_name": f"Protection {rng.randint(1, 40)}"})
            doc["observer"]["product"] = "IPS"
        yield doc["event"]["id"], doc
    # injected: a port scan, a host sweep, an admin brute force then success
    at = START + timedelta(hours=2)
    for k in range(60):
        yield f"scan-{k}", {"@timestamp": _ts(at + timedelta(milliseconds=200 * k)),
                            "observer": {"vendor": "Checkpoint", "name": "gw-edge-1"},
                            "event": {"category": ["network"], "action": "Drop", "id": f"scan-{k}"},
                            "source": {"ip": "203.0.113.66"},
                            "destination": {"ip": "10.20.5.10", "port": 1 + k}}
    at = START + timedelta(hours=3)
    for k in range(40):
        yield f"sweep-{k}", {"@timestamp": _ts(at + timedelta(seconds=k)),
                             "observer": {"vendor": "Checkpoint", "name": "gw-edge-2"},
                             "event": {"category": ["network"], "action": "Drop",
                                       "id": f"sweep-{k}"},
                             "source": {"ip": "203.0.113.77"},
                             "destination": {"ip": f"10.30.1.{k + 1}", "port": 445}}
    at = START + timedelta(hours=4)
    for k in range(7):
        yield f"bf-{k}", {"@timestamp": _ts(at + timedelta(seconds=10 * k)),
                          "observer": {"vendor": "Checkpoint", "product": "SmartConsole"},
                          "event": {"id": f"bf-{k}", "outcome": "failure" if k < 6 else "success"},
                          "user": {"name": "admin0"}, "source": {"ip": "192.0.2.200"},
                          "checkpoint": {"operation": "Log In"}}


def changes(rng: random.Random):
    for i in range(500):
        moment = START + timedelta(seconds=rng.uniform(0, HOURS * 3600))
        kind = rng.choice(("pull_request", "deployment", "commit"))
        yield f"ch-{i}", {"@timestamp": _ts(moment), "change": {
            "kind": kind, "repo": rng.choice(("fw-policy", "payments-api")),
            "sha": f"{rng.getrandbits(160):040x}", "independent_approval": rng.random() < 0.95,
            "checks_passed": rng.random() < 0.97, "environment": "production",
            "deployment": {"id": str(i), "creator": "fw-pipeline"},
            "pull_request": {"number": i}}}


async def bulk_load(store, kind: str, items, total_hint: int) -> float:
    es = store.es
    index = store.names.write(kind, START)
    # request cache off: the replayed baseline must not be answered from the engine's cache
    await es.indices.create(index=index, settings={"refresh_interval": "-1",
                                                   "index.requests.cache.enable": False})
    began = time.perf_counter()
    sem = asyncio.Semaphore(2)
    tasks = []

    async def send(body: bytes) -> None:
        try:
            response = await es.bulk(operations=body, filter_path="errors,items.*.error")
            if response.body.get("errors"):
                raise SystemExit(f"bulk errors: {str(response.body)[:500]}")
        finally:
            sem.release()

    chunk: list[bytes] = []
    done = 0
    for doc_id, doc in items:
        chunk.append(b'{"create":{"_index":"' + index.encode() + b'","_id":"' + doc_id.encode()
                     + b'"}}\n' + orjson.dumps(doc) + b"\n")
        if len(chunk) == 5000:
            await sem.acquire()
            tasks.append(asyncio.ensure_future(send(b"".join(chunk))))
            done += len(chunk)
            chunk = []
            if done % 500_000 == 0:
                print(f"  {kind}: {done:,}/{total_hint:,} indexed", flush=True)
    if chunk:
        await sem.acquire()
        tasks.append(asyncio.ensure_future(send(b"".join(chunk))))
    await asyncio.gather(*tasks)
    await es.indices.put_settings(index=index, settings={"refresh_interval": "1s"})
    await es.indices.refresh(index=index)
    await es.indices.forcemerge(index=index, max_num_segments=1, wait_for_completion=True)
    return time.perf_counter() - began


async def replay(store, log) -> tuple[int, int]:
    """The same msearch bodies, sent raw: (sum of took, round trips)."""
    took = 0
    for batch in log:
        lines = []
        for kind, body in batch:
            lines += [{"index": store.names.read(kind), "ignore_unavailable": True,
                       "allow_no_indices": True}, body]
        response = await store.es.msearch(searches=lines)
        took += int(response.body["took"])
    return took, len(log)


async def measure(store, rules, start, end, label: str) -> dict:
    stats = SearchStats(record=True)
    began, cpu = time.perf_counter(), time.process_time()
    result = await evaluate_range(rules, store, start, end, search_stats=stats,
                                  max_segment=timedelta(hours=1), inventory=BENCH_INVENTORY)
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    raw_took, trips = await replay(store, stats.log)
    by_rule: dict[str, int] = {}
    for doc in result.results:
        by_rule[doc["rule"]["name"]] = by_rule.get(doc["rule"]["name"], 0) + 1
    row = {"label": label, "rules": len(rules), "wall_s": round(wall, 3),
           "round_trips": stats.round_trips, "searches": stats.searches,
           "engine_took_s": round(stats.took_ms / 1000, 3), "raw_took_s": round(raw_took / 1000, 3),
           "ratio": round(wall / max(raw_took / 1000, 1e-3), 3),
           "overhead_pct": round(100 * (wall - raw_took / 1000) / max(wall, 1e-9), 1),
           "findings": result.findings, "errors": result.errors, "by_rule": by_rule}
    row["cpu_s"] = round(cpu, 3)
    print(f"{label}: {row['rules']} rules, wall {row['wall_s']} s, {row['round_trips']} round "
          f"trips ({row['searches']} searches), ES took seen by engine {row['engine_took_s']} s, "
          f"engine CPU {row['cpu_s']} s; same bodies replayed raw: took {row['raw_took_s']} s "
          f"-> ratio wall/raw took {row['ratio']}; {row['findings']} findings")
    if result.errors:
        print("  errors:", result.errors)
    return row


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:9200")
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench indices")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-rule", action="store_true",
                        help="also time each rule alone over the whole span")
    args = parser.parse_args()
    prefix = f"bench-rules-{uuid.uuid4().hex[:6]}"
    store = open_store(ElasticsearchSettings(hosts=[args.url], request_timeout_seconds=300),
                       prefix=prefix)
    try:
        await install_templates(store)
        await store.detect()
        print(f"indexing {args.events:,} events + 500 changes into {prefix} ...", flush=True)
        seconds = await bulk_load(store, "events", generate(args.events), args.events)
        await bulk_load(store, "changes", changes(random.Random(9)), 500)
        count = (await store.es.count(index=store.names.events))["count"]
        print(f"indexed {count:,} events in {seconds:.1f} s ({count / seconds:,.0f} docs/s)")
        assert count >= args.events
        pack = list(load_rules())
        rules = [r for r in pack if r.enabled]
        print(f"{len(rules)} enabled pack rules of {len(pack)} (disabled: "
              f"{[r.name for r in pack if not r.enabled]}); one unmeasured warm-up pass first "
              "(global ordinals, page cache)")
        end = START + timedelta(hours=HOURS)
        began = time.perf_counter()
        await evaluate_range(rules, store, START, end, max_segment=timedelta(hours=1),
                             inventory=BENCH_INVENTORY)
        print(f"warm-up backfill: {time.perf_counter() - began:.1f} s")
        rows = []
        for _ in range(args.rounds):  # alternate engine and raw replays: machine noise
            rows.append(await measure(store, rules, START, end, f"backfill {HOURS} h"))
            rows.append(await measure(store, rules, end - timedelta(minutes=5), end,
                                      "steady 5 min"))
        for label in (f"backfill {HOURS} h", "steady 5 min"):
            mine = [r for r in rows if r["label"] == label]
            wall = min(r["wall_s"] for r in mine)
            raw = min(r["raw_took_s"] for r in mine)
            seen = min(r["engine_took_s"] for r in mine)
            cpu = min(r["cpu_s"] for r in mine)
            print(f"SUMMARY {label}: best of {len(mine)}: wall {wall} s, ES took seen by engine "
                  f"{seen} s, raw replay took {raw} s, ratio wall/raw {wall / max(raw, 1e-3):.2f}, "
                  f"engine CPU {cpu} s ({100 * cpu / max(raw, 1e-3):.0f} % of raw took), "
                  f"{mine[0]['round_trips']} round trips ({mine[0]['searches']} searches), "
                  f"{mine[0]['findings']} findings")
            print(f"  findings by rule: {mine[0]['by_rule']}")
        if args.per_rule:
            for rule in rules:
                stats = SearchStats()
                began = time.perf_counter()
                await evaluate_range([rule], store, START, end, search_stats=stats,
                                     max_segment=timedelta(hours=1), inventory=BENCH_INVENTORY)
                print(f"  {time.perf_counter() - began:7.2f} s  took {stats.took_ms / 1000:6.2f} s"
                      f"  {stats.round_trips:3d} trips {stats.searches:5d} searches  "
                      f"{rule.type:<11} {rule.name}")
    finally:
        if not args.keep:
            await drop_prefix(store)
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())

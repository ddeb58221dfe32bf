"""A bulk 429 storm: a node whose write thread pool has one thread and a queue of one.

The writer retries 429s with backoff; when its retries run out the receiver spools the batch to
disk and replays it once Elasticsearch answers again, while TCP readers wait on the full
in-memory queue. Nothing may be dropped: every line sent is indexed exactly once.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.procs import MonitorProcess, free_port, http_get, wait_for

from .conftest import Cluster, es_script
from .test_node_loss import _repeated_ids
from .traffic import Sender


@pytest.fixture(scope="module")
def tiny_queue_node() -> Iterator[Cluster]:
    name = f"pytest-429-{free_port()}"
    out = es_script("start", "--name", name, "--heap", "512m", "--json", "--wait", "600",
                    "--setting", "thread_pool.write.size: 1",
                    "--setting", "thread_pool.write.queue_size: 1")
    if out.returncode != 0:
        es_script("stop", "--name", name)
        pytest.fail(f"could not start Elasticsearch: {out.stderr[-3000:]}")
    record = json.loads(out.stdout)
    try:
        yield Cluster({**record, "urls": [record["url"]], "nodes": [record]})
    finally:
        es_script("stop", "--name", name)


def test_bulk_429_storm_backpressure_reaches_receiver_and_spool(
        tmp_path: Path, tiny_queue_node: Cluster) -> None:
    node = tiny_queue_node
    prefix = "t-c429"
    tcp = free_port()
    config = {
        "elasticsearch": {"hosts": node.urls, "index_prefix": prefix,
                          "bulk": {"chunk_docs": 250, "max_in_flight": 4, "max_retries": 1,
                                   "initial_backoff_seconds": 0.1,
                                   "max_backoff_seconds": 0.5}},
        "sources": {"syslog": {"enabled": True, "udp": None, "tcp": f"127.0.0.1:{tcp}",
                               "queue_size": 500, "flush_interval_seconds": 0.2,
                               "spool": {"dir": str(tmp_path / "spool")}}},
        "rules": {"dirs": []},
        "daemon": {"stats_interval_seconds": 1, "shutdown_timeout_seconds": 30},
        "logging": {"format": "json"},
    }
    proc = MonitorProcess(tmp_path, "storm", config)
    try:
        proc.start()
        proc.wait_ready(120)
        sender = Sender([tcp], 4000, seed=429, origin="10.99.4.29")
        sender.start()
        wait_for(lambda: sender.total >= 12_000, 180, "12,000 lines sent", interval=0.5)
        sender.stop()
        index = f"{prefix}-events-*"

        def receiver() -> dict:
            return json.loads(http_get(f"{proc.url}/readyz")[1])["services"]["syslog"]

        wait_for(lambda: node.count(index) >= sender.total and receiver()["spool_bytes"] == 0,
                 300, f"{sender.total} events indexed and the spool empty", interval=2,
                 on_fail=lambda: f"count {node.count(index)} {receiver()}" + proc.tail())
        syslog = receiver()
        rejections = proc.metric("monitor_es_bulk_rejections_total") or 0
        print("429 storm:", json.dumps({"sent": sender.total, "indexed": node.count(index),
                                        "rejections": rejections,
                                        "max_send_stall_s": round(sender.max_stall, 2),
                                        **syslog}))
        assert rejections > 0, "no 429 seen: the storm did not happen"
        assert syslog["spooled"] > 0 and syslog["replayed"] >= syslog["spooled"], syslog
        assert syslog["dropped_spool_full"] == 0
        assert node.count(index) == sender.total
        assert _repeated_ids(node, index) == 0
    finally:
        proc.stop()
        with node.client() as client:
            client.delete(f"/{prefix}-*", params={"expand_wildcards": "all"})
            client.delete(f"/_index_template/{prefix}-*")

"""Scheduled file pickup: appends are read once, rotation restarts, offsets persist."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.daemon.file_runs import scan_once
from monitor.settings import FileSource
from monitor.simulate import SimConfig, generate
from monitor.store import BulkWriter, StateStore


async def test_scan_picks_up_appends_only(store: Any, tmp_path: Path) -> None:
    lines = [line for _, line in generate(SimConfig(count=120, seed=4))]
    log = tmp_path / "fw.log"
    log.write_text("\n".join(lines[:50]) + "\n" + lines[50][:40])  # last line incomplete
    cfg = FileSource(paths=[str(tmp_path / "*.log")])
    writer, state = BulkWriter(store), StateStore(store)
    first = await scan_once(cfg, writer, state)
    assert first.read == 50 and first.indexed == 50
    with log.open("a") as handle:
        handle.write(lines[50][40:] + "\n" + "\n".join(lines[51:120]) + "\n")
    second = await scan_once(cfg, writer, state)
    assert second.read == 70 and second.indexed == 70 and second.duplicates == 0
    third = await scan_once(cfg, writer, state)
    assert third.read == 0
    log.write_text("\n".join(lines[:10]) + "\n")  # rotated: a new, shorter file
    fourth = await scan_once(cfg, writer, state)
    assert fourth.read == 10 and fourth.duplicates == 10
    await store.es.indices.refresh(index=store.names.read("events"))
    count = await store.es.count(index=store.names.read("events"))
    assert count["count"] == 120

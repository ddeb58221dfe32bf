"""Log Exporter traffic for the cluster and active-active tests: a paced TCP sender.

Each sender stamps its lines with its own ``origin`` (``observer.name`` in the document), so a
count per origin in Elasticsearch says exactly how many of that sender's lines were indexed.
Lines are timestamped now, one batch per second (``rate`` lines), with fresh loguids per batch.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from datetime import UTC, datetime

from monitor.simulate.checkpoint import PortScan, SimConfig, generate

_ORIGIN = re.compile(r'origin:"[^"]*"')


def lines_for(seed: int, count: int, origin: str, rate: float,
              scenarios: tuple[PortScan, ...] = ()) -> list[str]:
    batch = [line for _, line in generate(SimConfig(count=count, seed=seed, start=datetime.now(UTC),
                                                    events_per_second=rate,
                                                    scenarios=scenarios))]
    return [_ORIGIN.sub(f'origin:"{origin}"', line) for line in batch]


class Sender(threading.Thread):
    """Sends ``rate`` lines/s to the first port; on a broken connection it fails over to the
    next port (as a load balancer would), resends the batch whose delivery is in doubt unchanged
    (stable ids make that safe) and stamps later batches with ``failover_origin``."""

    def __init__(self, ports: list[int], rate: int, seed: int, origin: str,
                 failover_origin: str | None = None) -> None:
        super().__init__(daemon=True)
        self.ports = list(ports)
        self.rate = rate
        self.seed = seed * 1_000_000
        self.origin = origin
        self.failover_origin = failover_origin or origin
        self.sent: dict[str, int] = {}
        self.resent: list[str] = []  # the in-doubt batch, resent to the next port
        self.failovers = 0
        self.max_stall = 0.0  # longest single sendall (receiver backpressure shows here)
        self.pending: list[str] = []
        self.lock = threading.Lock()
        self.running = True
        self.error: BaseException | None = None
        self.sock = socket.create_connection(("127.0.0.1", self.ports[0]), timeout=60)

    def inject(self, lines: list[str]) -> None:
        with self.lock:
            self.pending.extend(lines)

    def _send(self, lines: list[str]) -> None:
        began = time.monotonic()
        self.sock.sendall("".join(line + "\n" for line in lines).encode())
        self.max_stall = max(self.max_stall, time.monotonic() - began)

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.sock.close()

    def _loop(self) -> None:
        next_tick = time.monotonic()
        while self.running:
            self.seed += 1
            origin = self.origin if not self.failovers else self.failover_origin
            batch = lines_for(self.seed, self.rate, origin, self.rate)
            with self.lock:
                extra, self.pending = self.pending, []
            batch += [_ORIGIN.sub(f'origin:"{origin}"', line) for line in extra]
            try:
                self._send(batch)
            except OSError:
                if self.failovers + 1 >= len(self.ports):
                    raise
                self.failovers += 1
                self.sock.close()
                self.sock = socket.create_connection(("127.0.0.1", self.ports[self.failovers]),
                                                     timeout=60)
                self.resent = batch
                self._send(batch)
            self.sent[origin] = self.sent.get(origin, 0) + len(batch)
            next_tick += 1.0
            time.sleep(max(0.0, next_tick - time.monotonic()))

    def stop(self) -> None:
        self.running = False
        self.join(timeout=60)
        if self.error is not None:
            raise AssertionError(f"sender failed: {self.error!r}")

    @property
    def total(self) -> int:
        return sum(self.sent.values())

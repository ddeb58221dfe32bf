"""Management configuration snapshots → ``inventory`` documents for the compliance controls.

A pull source (``sources/base.py``) the daemon drives with the ingest pipeline (on
``cfg.snapshot_schedule``)::

    report = await ingest_once(CheckpointSnapshots(cfg), writer)   # monitor/ingest.py

One snapshot reads ``show-gateways-and-servers`` (installed access/threat policy name and
installation date per gateway) and ``show-access-rulebase`` for each layer in
``cfg.access_layers`` (rules with action, source/destination/service names, track, enabled,
hits, and whether source/destination/service is *Any*). Every document of a snapshot carries
``inventory.snapshot_id`` (the snapshot time) and ``inventory.collector``, so "the latest snapshot" is one term query; ids
derive from (source, snapshot, object uid), so re-running the same snapshot is idempotent.
"""
from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict, Unpack

import httpx

from ..model import DeadLetter, Document
from ..settings import CheckpointApiSource
from .base import Batch
from .checkpoint_api import CheckpointApiClient, build_http_client

__all__ = ["ANY_UID", "CheckpointSnapshots", "SnapshotRecord", "gateway_doc", "rule_docs"]

ANY_UID = "97aeb369-9aea-11d5-bd16-0090272ccb30"
_PAGE = 100


def _id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _date(value: Any) -> str | None:
    if isinstance(value, dict):
        iso = value.get("iso-8601")
        if isinstance(iso, str):
            return iso
        posix = value.get("posix")
        if isinstance(posix, (int, float)):
            return datetime.fromtimestamp(posix / 1000, UTC).isoformat().replace("+00:00", "Z")
    return None


def _object(value: Any) -> dict[str, Any]:
    """``value`` if the API answered an object there, else an empty one."""
    return value if isinstance(value, dict) else {}


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


def gateway_doc(source: str, snapshot_id: str, obj: dict[str, Any]) -> Document:
    policy = _object(obj.get("policy"))
    body = {
        "kind": "checkpoint_gateway", "collector": source, "snapshot_id": snapshot_id,
        "uid": obj.get("uid"), "name": obj.get("name"), "type": obj.get("type"),
        "ip": obj.get("ipv4-address") or obj.get("ipv6-address"), "version": obj.get("version"),
        "access_policy_installed": policy.get("access-policy-installed"),
        "access_policy_name": policy.get("access-policy-name"),
        "access_policy_installed_at": _date(policy.get("access-policy-installation-date")),
        "threat_policy_installed": policy.get("threat-policy-installed"),
        "threat_policy_name": policy.get("threat-policy-name"),
        "threat_policy_installed_at": _date(policy.get("threat-policy-installation-date")),
    }
    return Document("inventory", _id(source, snapshot_id, "gw", str(obj.get("uid"))),
                    {"@timestamp": snapshot_id, "event": {"dataset": "checkpoint.inventory"},
                     "inventory": {k: v for k, v in body.items() if v is not None}})


def rule_docs(source: str, snapshot_id: str, layer: str, answer: dict[str, Any]
              ) -> list[Document]:
    names = {o.get("uid"): o.get("name") for o in answer.get("objects-dictionary") or []
             if isinstance(o, dict)}

    def resolve(value: Any) -> list[str]:
        items = value if isinstance(value, list) else [value] if value else []
        out = []
        for item in items:
            uid = item.get("uid") if isinstance(item, dict) else item
            out.append(str(names.get(uid) or (item.get("name") if isinstance(item, dict) else None)
                           or ("Any" if uid == ANY_UID else uid)))
        return out

    def uids(value: Any) -> list[str]:
        items = value if isinstance(value, list) else [value] if value else []
        return [str(i.get("uid") if isinstance(i, dict) else i) for i in items]

    docs: list[Document] = []

    def walk(entries: Any, section: str | None) -> None:
        for entry in entries or []:
            if not isinstance(entry, dict):
                continue
            if entry.get("type") == "access-section" or "rulebase" in entry:
                walk(entry.get("rulebase"), entry.get("name"))
                continue
            track = entry.get("track")
            track_type = track.get("type") if isinstance(track, dict) else track
            hits = _object(entry.get("hits"))
            body = {
                "kind": "checkpoint_access_rule", "collector": source, "snapshot_id": snapshot_id,
                "layer": layer, "section": section, "uid": entry.get("uid"),
                "name": entry.get("name"), "number": entry.get("rule-number"),
                "enabled": entry.get("enabled"), "action": _first(resolve(entry.get("action"))),
                "source": resolve(entry.get("source")),
                "destination": resolve(entry.get("destination")),
                "service": resolve(entry.get("service")),
                "track": _first(resolve(track_type)),
                "any_source": ANY_UID in uids(entry.get("source")),
                "any_destination": ANY_UID in uids(entry.get("destination")),
                "any_service": ANY_UID in uids(entry.get("service")),
                "source_negate": entry.get("source-negate"),
                "destination_negate": entry.get("destination-negate"),
                "hits": hits.get("value"), "last_hit": _date(hits.get("last-date")),
                "comments": entry.get("comments"),
            }
            docs.append(Document("inventory",
                                 _id(source, snapshot_id, "rule", layer, str(entry.get("uid"))),
                                 {"@timestamp": snapshot_id,
                                  "event": {"dataset": "checkpoint.inventory"},
                                  "inventory": {k: v for k, v in body.items() if v is not None}}))

    walk(answer.get("rulebase"), None)
    return docs


async def _paged(api: CheckpointApiClient, command: str, body: dict[str, Any]
                 ) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    offset = 0
    while True:
        answer = await api.call(command, {**body, "offset": offset, "limit": _PAGE})
        pages.append(answer)
        total, to = answer.get("total"), answer.get("to")
        if not isinstance(total, int) or not isinstance(to, int) or to >= total or to <= offset:
            return pages
        offset = to


#: ("gateway", snapshot id, object) or ("layer", snapshot id, layer name, rulebase page)
SnapshotRecord = (tuple[Literal["gateway"], str, dict[str, Any]]
                  | tuple[Literal["layer"], str, str, dict[str, Any]])


class ApiOptions(TypedDict, total=False):
    """What a snapshot hands on to its ``CheckpointApiClient`` (tests: no real sleeping)."""

    sleep: Callable[[float], Awaitable[None]]
    monotonic: Callable[[], float]
    max_attempts: int


class CheckpointSnapshots:
    """One management server's gateways and access rulebases, read as one snapshot per fetch.

    No cursor: every snapshot is complete, and its ids derive from (source, snapshot, uid)."""

    name = "checkpoint-snapshot"

    def __init__(self, cfg: CheckpointApiSource, *, client: httpx.AsyncClient | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 **api_options: Unpack[ApiOptions]) -> None:
        self.cfg, self._client, self._now, self._options = cfg, client, now, api_options
        self._owned: httpx.AsyncClient | None = None
        self._api: CheckpointApiClient | None = None
        self.source = f"checkpoint:api:{cfg.name}"

    async def fetch(self, cursor: dict[str, Any] | None = None) -> Batch[SnapshotRecord]:
        client = self._client
        if client is None:
            client = self._owned = await build_http_client(self.cfg)
        api = self._api = CheckpointApiClient(self.cfg, client, **self._options)
        snapshot_id = self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        records: list[SnapshotRecord] = []
        for page in await _paged(api, "show-gateways-and-servers", {"details-level": "full"}):
            records.extend(("gateway", snapshot_id, obj) for obj in page.get("objects") or []
                           if isinstance(obj, dict))
        gateways = len(records)
        rules = 0
        for layer in self.cfg.access_layers:
            for page in await _paged(api, "show-access-rulebase",
                                     {"name": layer, "details-level": "standard",
                                      "use-object-dictionary": True, "show-hits": True}):
                records.append(("layer", snapshot_id, layer, page))
                rules += len(rule_docs(self.source, snapshot_id, layer, page))
        return Batch(records, None, {"gateways": gateways, "rules": rules})

    def normalize(self, record: SnapshotRecord) -> Iterable[Document | DeadLetter]:
        if record[0] == "gateway":
            return [gateway_doc(self.source, record[1], record[2])]
        return rule_docs(self.source, record[1], record[2], record[3])

    async def close(self) -> None:
        try:
            if self._api is not None:
                await self._api.logout()
        finally:
            if self._owned is not None:
                await self._owned.aclose()

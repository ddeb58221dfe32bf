"""A fake Check Point Management API for respx, built from the documented shapes
(shared/reference/checkpoint.md §1.2-1.6): login → sid, show-logs new-query/query-id paging,
keepalive, logout, error bodies with ``code``/``message``."""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

BASE = "https://mgmt.example.test/web_api"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def api_log(index: int, moment: datetime, log_type: str = "logs") -> dict[str, Any]:
    if log_type == "audit":
        return {"id": f"0a0303ea-5d96-040c-649a-{index:012x}", "type": "Audit",
                "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "orig": "mgmt-1",
                "product": "SmartConsole", "administrator": "alice", "client_ip": "10.0.5.5",
                "operation": "Publish" if index % 2 else "Log In",
                "subject": "Revision Control" if index % 2 else "Administrator Login",
                "audit_status": "Success", "sequencenum": "1"}
    return {"id": f"ac17545d-440a-0000-5e80-{index:012x}", "type": "Log",
            "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "orig": "gw-1",
            "product": "VPN-1 & FireWall-1", "action": "Drop" if index % 3 == 0 else "Accept",
            "src": f"10.0.{index // 250 % 250}.{index % 250 + 1}", "dst": "203.0.113.5",
            "s_port": str(40000 + index % 20000), "service": "443", "proto": "6",
            "i_f_dir": "inbound", "i_f_name": "eth0", "sequencenum": "1",
            "rule_name": "Allow web", "proto_attr": [{"resolved": "TCP (6)"}]}


@dataclass
class FakeMgmt:
    logs: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"logs": [], "audit": []})
    page_size_cap: int = 100
    sessions: set[str] = field(default_factory=set)
    queries: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    logins: int = 0
    #: faults: command → list of responses to serve first (each used once)
    faults: list[tuple[str, Any]] = field(default_factory=list)
    expire_after_pages: int | None = None
    down_after_pages: int | None = None
    pages_served: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def add(self, log_type: str, count: int, start: datetime = T0, step_s: float = 1.0) -> None:
        base = len(self.logs[log_type]) + (100000 if log_type == "audit" else 0)
        for i in range(count):
            self.logs[log_type].append(api_log(base + i, start + timedelta(seconds=i * step_s),
                                               log_type))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        command = request.url.path.rsplit("/", 1)[-1]
        body = json.loads(request.content or b"{}")
        self.calls.append((command, body))
        for index, (name, response) in enumerate(self.faults):
            if name == command:
                del self.faults[index]
                if isinstance(response, Exception):
                    raise response
                return response
        if command == "login":
            self.logins += 1
            sid = f"sid-{next(self._ids)}"
            self.sessions.add(sid)
            return httpx.Response(200, json={"sid": sid, "session-timeout": 600,
                                             "api-server-version": "1.9", "uid": "u"})
        sid = request.headers.get("X-chkp-sid")
        if sid not in self.sessions:
            return httpx.Response(401, json={"code": "generic_err_wrong_session_id",
                                             "message": "Wrong session id [" + str(sid) + "]"})
        if command in ("keepalive", "logout"):
            if command == "logout":
                self.sessions.discard(sid)
            return httpx.Response(200, json={"message": "OK"})
        if command != "show-logs":
            return httpx.Response(404, json={"code": "generic_err_command_not_found",
                                             "message": "no"})
        if self.down_after_pages is not None and self.pages_served >= self.down_after_pages:
            raise httpx.ConnectError("management server unreachable")
        if self.expire_after_pages is not None and self.pages_served >= self.expire_after_pages:
            self.expire_after_pages = None
            self.sessions.clear()
            return httpx.Response(401, json={"code": "generic_err_session_expired",
                                             "message": "Session expired"})
        if "new-query" in body:
            q = body["new-query"]
            start = datetime.fromisoformat(q["custom-start"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(q["custom-end"].replace("Z", "+00:00"))
            chosen = [item for item in self.logs[q.get("type", "logs")]
                      if start <= datetime.fromisoformat(item["time"].replace("Z", "+00:00"))
                      <= end]
            chosen.reverse()  # newest first, so a cursor must not assume ordering
            query_id = f"q-{next(self._ids)}"
            size = min(int(q.get("max-logs-per-request", 100)), self.page_size_cap)
            self.queries[query_id] = {"sid": sid, "rows": chosen, "pos": 0, "size": size}
        else:
            query_id = body["query-id"]
            if query_id not in self.queries or self.queries[query_id]["sid"] != sid:
                return httpx.Response(400, json={"code": "generic_err_invalid_parameter",
                                                 "message": "Invalid query-id"})
        query = self.queries[query_id]
        rows = query["rows"][query["pos"]:query["pos"] + query["size"]]
        query["pos"] += len(rows)
        self.pages_served += 1
        return httpx.Response(200, json={"logs": rows, "logs-count": str(len(rows)),
                                         "query-id": query_id})

"""Exporter-named Check Point fields → an ECS document. Pure, no clock, never raises on values.

Follows Elastic's Check Point integration (``shared/corpus/checkpoint``) unless there is a reason
not to; every difference is listed in ``docs/checkpoint-conformance.md``. Values that do not fit
their ECS type (a ``src`` that is not an IP, a port of 99999) stay under ``checkpoint.*`` only,
so a hostile line cannot make Elasticsearch reject the document.
"""
from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from .checkpoint_kv import Fields
from .syslog_envelope import parse_iso

__all__ = ["to_ecs", "format_ts", "event_time"]

_TRANSPORT = {"0": "hopopt", "1": "icmp", "2": "igmp", "6": "tcp", "8": "egp", "17": "udp",
              "47": "gre", "50": "esp", "58": "ipv6-icmp", "112": "vrrp", "132": "sctp"}
_ALLOW = frozenset({"Accept", "Allow"})
_DENY = frozenset({"Drop", "Reject", "Block", "Prevent"})
_ALERT_RULE_ACTIONS = frozenset({"Prevent", "Detect", "Quarantine"})
THREAT_PRODUCTS = frozenset({
    "Anti Malware", "Anti-Bot", "Anti-Virus", "Threat Emulation", "Threat Extraction", "IPS",
    "SmartDefense", "Anti Bot", "Anti Virus", "Zero Phishing", "Threat Prevention"})
AUDIT_PRODUCTS = frozenset({"SmartConsole", "WEB_API", "Web-UI", "Expert Shell",
                            "cpmidu_update_tool", "Management Blade", "Scheduled system update",
                            "Gaia Portal", "CLISH", "Unknown"})
_CHANGE_OPERATIONS = ("Create", "Modify", "Delete", "Set", "Add", "Remove", "Publish",
                      "Install", "Run", "Update", "IPS Update", "Discard", "Revert", "Import")
#: Elastic drops these from checkpoint.*: bookkeeping with no evidential value
_DROP = frozenset({"flags", "layer_uuid", "version", "rounded_bytes", "db_tag", "update_service"})
_MAX_INT = 2**63 - 1

_IP_CACHE: dict[str, bool] = {}
_TS_CACHE: dict[int, str] = {}


def _is_ip(value: str) -> bool:
    known = _IP_CACHE.get(value)
    if known is not None:
        return known
    try:
        ipaddress.ip_address(value)
        ok = True
    except ValueError:
        ok = False
    if len(_IP_CACHE) > 50_000:
        _IP_CACHE.clear()
    _IP_CACHE[value] = ok
    return ok


def format_ts(moment: datetime) -> str:
    """UTC, millisecond precision, ``Z`` (what Elastic writes)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _epoch_ts(seconds: int, millis: int = 0) -> str | None:
    base = _TS_CACHE.get(seconds)
    if base is None:
        try:
            base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        except (OverflowError, OSError, ValueError):
            return None
        if len(_TS_CACHE) > 4096:
            _TS_CACHE.clear()
        _TS_CACHE[seconds] = base
    return f"{base}{millis:03d}Z"


def event_time(value: str) -> tuple[str, str | None] | None:
    """Check Point ``time``: epoch seconds, epoch milliseconds or ISO text → (ts, zone)."""
    if value.isdigit():
        number = int(value)
        if number > 10**11:  # milliseconds
            ts = _epoch_ts(number // 1000, number % 1000)
        else:
            ts = _epoch_ts(number)
        return (ts, "UTC") if ts else None
    parsed = parse_iso(value)
    if parsed is None:
        return None
    if parsed[0].year < 1970 or parsed[0].year > 9999:
        return None
    return format_ts(parsed[0]), parsed[1]


def _first(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _int(value: str | list[str] | None, low: int = 0, high: int = _MAX_INT) -> int | None:
    value = _first(value)
    if value is None:
        return None
    if value.isdigit() and len(value) < 19:
        number = int(value)
        return number if low <= number <= high else None
    return None


def _ip(value: str | list[str] | None) -> str | None:
    value = _first(value)
    if value and value != "0.0.0.0" and _is_ip(value):
        return value
    return None


def _put(doc: dict[str, Any], section: str, key: str, value: Any) -> None:
    if value is not None:
        doc.setdefault(section, {})[key] = value


def _user(doc: dict[str, Any], name: str, *, lower: bool) -> dict[str, Any]:
    text = name.lower() if lower else name
    user: dict[str, Any] = {"name": text}
    if lower and "@" in text and " " not in text:
        local, _, domain = text.partition("@")
        if local and domain:
            user = {"name": local, "email": text, "domain": domain}
    return user


def classify(f: Fields) -> tuple[str, list[str], list[str], str | None, str | None]:
    """(kind, category, type, action, outcome) following Elastic's rules, plus audit changes."""
    action = _first(f.get("action"))
    operation = _first(f.get("operation"))
    rule_action = f.get("rule_action")
    rule_actions = rule_action if isinstance(rule_action, list) else \
        ([rule_action] if rule_action else [])
    status = _first(f.get("audit_status"))
    kind = "event"
    category: list[str] = []
    types: list[str] = []
    outcome: str | None = None
    if operation in ("Log In", "Log Out"):
        category.append("authentication")
        failed = status == "Failure" or _first(f.get("operation_number")) == "11"
        if operation == "Log In":
            action, types = ("logon-failed" if failed else "logged-in"), ["start"]
        else:
            action, types = "logged-out", ["end"]
        outcome = "failure" if failed else "success"
    elif operation is not None and operation.startswith(_CHANGE_OPERATIONS):
        category.append("configuration")
        types.append("change")
    else:
        category.append("network")
    if action in ("Log In", "Failed Log In"):
        category.append("authentication")
        ok = action == "Log In"
        action, types, outcome = ("logged-in", ["allowed"], "success") if ok else \
            ("logon-failed", ["denied"], "failure")
    if f.get("malware_action") is not None:
        category.append("malware")
    if any(r in _ALERT_RULE_ACTIONS for r in rule_actions):
        kind = "alert"
        if "intrusion_detection" not in category and any(r in ("Detect", "Prevent")
                                                         for r in rule_actions):
            category.append("intrusion_detection")
    elif _first(f.get("product")) in THREAT_PRODUCTS:
        kind = "alert"
    if rule_actions and not types:
        first_rule_action = rule_actions[0]
        if first_rule_action in _ALLOW:
            outcome, types = "success", ["allowed", "connection"]
        elif first_rule_action in _DENY:
            outcome, types = "success", ["connection", "denied"]
    if status in ("Success", "Failure"):
        outcome = "success" if status == "Success" else "failure"
    return kind, category, types, action, outcome


def dataset_of(f: Fields) -> str:
    if f.get("operation") is not None or f.get("is_audit") is not None or (
            _first(f.get("product")) in AUDIT_PRODUCTS and f.get("administrator") is not None):
        return "checkpoint.audit"
    if _first(f.get("product")) in THREAT_PRODUCTS:
        return "checkpoint.threat"
    return "checkpoint.firewall"


def to_ecs(f: Fields, *, header_ts: str | None, header_zone: str | None,
           fallback_ts: str) -> dict[str, Any]:
    """Build the ECS document (without ``event.original``) from exporter-named fields."""
    doc: dict[str, Any] = {}
    event: dict[str, Any] = {"module": "checkpoint", "dataset": dataset_of(f)}
    timestamp, zone = None, None
    raw_time = _first(f.get("time"))
    if raw_time:
        parsed = event_time(raw_time)
        if parsed is not None:
            timestamp, zone = parsed
    if timestamp is None and header_ts is not None:
        timestamp, zone = header_ts, header_zone
    if timestamp is None:
        timestamp = fallback_ts
        doc["tags"] = ["timestamp_from_receipt"]
    doc["@timestamp"] = timestamp
    if zone:
        event["timezone"] = zone

    kind, category, types, action, outcome = classify(f)
    event["kind"] = kind
    event["category"] = category
    if types:
        event["type"] = types
    if action:
        event["action"] = action
    if outcome:
        event["outcome"] = outcome
    loguid = _first(f.get("loguid"))
    if loguid:
        event["id"] = loguid
    sequence = _int(f.get("sequencenum"))
    if sequence is not None:
        event["sequence"] = sequence
    code = _first(f.get("operation_number"))
    if code:
        event["code"] = code
    severity = _int(f.get("severity"))
    if severity is not None:
        event["severity"] = severity
    info = _first(f.get("additional_info"))
    if info and info.startswith("Administrator failed to log in: "):
        event["reason"] = info[len("Administrator failed to log in: "):].strip()
    for key, target in (("start_time", "start"), ("lastupdatetime", "end")):
        value = _first(f.get(key))
        if value:
            parsed = event_time(value)
            if parsed:
                event[target] = parsed[0]
    doc["event"] = event
    message = _first(f.get("subject")) or _first(f.get("sys_message")) or \
        _first(f.get("calc_desc"))
    if message:
        doc["message"] = message

    _network(doc, f)
    _endpoints(doc, f)
    _observer(doc, f)
    _rule(doc, f)
    _users(doc, f)
    _threat(doc, f)
    _related(doc)
    doc["checkpoint"] = {k: v for k, v in f.items() if k not in _DROP}
    return doc


def _network(doc: dict[str, Any], f: Fields) -> None:
    net: dict[str, Any] = {}
    proto = _first(f.get("proto"))
    if proto is not None and proto.isdigit() and int(proto) <= 255:
        net["iana_number"] = proto
        transport = _TRANSPORT.get(proto)
        if transport:
            net["transport"] = transport
    app = _first(f.get("service_id")) or _first(f.get("app_name"))
    if app:
        net["application"] = app
    direction = _first(f.get("ifdir"))
    if direction:
        net["direction"] = direction
    layer = f.get("layer_name")
    if layer:
        net["name"] = layer
    total_bytes = _int(f.get("bytes"))
    if total_bytes is not None:
        net["bytes"] = total_bytes
    packets = _int(f.get("packets"))
    if packets is None:
        packets = _int(f.get("packet_amount"))
    if packets is not None:
        net["packets"] = packets
    if _first(f.get("product")) == "Expert Shell":
        net["protocol"] = "ssh"
    if net:
        doc["network"] = net


def _endpoints(doc: dict[str, Any], f: Fields) -> None:
    src: dict[str, Any] = {}
    dst: dict[str, Any] = {}
    ip = _ip(f.get("src")) or _ip(f.get("client_ip"))
    if ip:
        src["ip"] = ip
    port = _int(f.get("s_port"), 0, 65535)
    if port is not None:
        src["port"] = port
    ip = _ip(f.get("dst"))
    if ip:
        dst["ip"] = ip
    port = _int(f.get("service"), 0, 65535)
    if port is not None:
        dst["port"] = port
    nat_ip, nat_port = _ip(f.get("xlatesrc")), _int(f.get("xlatesport"), 1, 65535)
    if nat_ip or nat_port:
        src["nat"] = {k: v for k, v in (("ip", nat_ip), ("port", nat_port)) if v}
    nat_ip, nat_port = _ip(f.get("xlatedst")), _int(f.get("xlatedport"), 1, 65535)
    if nat_ip or nat_port:
        dst["nat"] = {k: v for k, v in (("ip", nat_ip), ("port", nat_port)) if v}
    for key, side in (("client_outbound_bytes", src), ("server_outbound_bytes", dst)):
        value = _int(f.get(key))
        if value is not None:
            side["bytes"] = value
    for key, side in (("client_outbound_packets", src), ("server_outbound_packets", dst)):
        value = _int(f.get(key))
        if value is not None:
            side["packets"] = value
    domain = _first(f.get("src_machine_name")) or _first(f.get("machine"))
    if domain:
        src["domain"] = domain
    domain = _first(f.get("dst_machine_name")) or _first(f.get("destination_dns_hostname"))
    if domain:
        dst["domain"] = domain
    if src:
        doc["source"] = src
    if dst:
        doc["destination"] = dst


def _observer(doc: dict[str, Any], f: Fields) -> None:
    obs: dict[str, Any] = {"vendor": "Checkpoint", "type": "firewall"}
    origin = _first(f.get("origin"))
    if origin:
        obs["name"] = origin
        if _is_ip(origin):
            obs["ip"] = [origin]
    product = _first(f.get("product"))
    if product:
        obs["product"] = product
    sic = _first(f.get("originsicname"))
    if sic:
        head = sic.split(",", 1)[0]
        if head[:3].lower() == "cn=" and len(head) > 3:
            obs["hostname"] = head[3:]
    ifname = _first(f.get("ifname"))
    inbound = _first(f.get("client_inbound_interface"))
    outbound = _first(f.get("client_outbound_interface")) or \
        _first(f.get("server_outbound_interface"))
    if ifname and not inbound and _first(f.get("ifdir")) == "inbound":
        inbound = ifname
    elif ifname and not outbound and _first(f.get("ifdir")) != "inbound":
        outbound = ifname
    zone_in = _first(f.get("inzone")) or _first(f.get("security_inzone"))
    zone_out = _first(f.get("outzone")) or _first(f.get("security_outzone"))
    if inbound or zone_in:
        obs["ingress"] = {k: v for k, v in (("interface", {"name": inbound} if inbound else None),
                                            ("zone", zone_in)) if v}
    if outbound or zone_out:
        obs["egress"] = {k: v for k, v in (("interface", {"name": outbound} if outbound else None),
                                           ("zone", zone_out)) if v}
    version = _first(f.get("update_version"))
    if version:
        obs["version"] = version
    doc["observer"] = obs


def _rule(doc: dict[str, Any], f: Fields) -> None:
    rule: dict[str, Any] = {}
    for key in ("objectname", "rule_name", "malware_rule_name", "app_rule_name", "dlp_rule_name"):
        value = f.get(key)
        if value:
            rule["name"] = value
            break
    value = f.get("malware_rule_id") or f.get("app_rule_id")
    if value:
        rule["id"] = value
    value = f.get("rule_uid")
    if value:
        rule["uuid"] = value
    value = f.get("smartdefence_profile") or f.get("policy")
    if value:
        rule["ruleset"] = value
    value = f.get("malware_action")
    if value:
        rule["description"] = value
    value = f.get("matched_category") or f.get("categories")
    if value:
        rule["category"] = value
    if rule:
        doc["rule"] = rule


def _users(doc: dict[str, Any], f: Fields) -> None:
    admin = _first(f.get("administrator"))
    plain = _first(f.get("user"))
    src_name = _first(f.get("src_user_name"))
    if plain:
        doc["user"] = {"name": plain}
    elif admin:
        doc["user"] = _user(doc, admin, lower=True)
    source_user: dict[str, Any] = {}
    if src_name:
        source_user = {"name": src_name}
    elif admin:
        source_user = dict(_user(doc, admin, lower=True))
    uid = _first(f.get("uid"))
    if uid:
        source_user["id"] = uid
        doc.setdefault("user", {})["id"] = uid
    if source_user:
        doc.setdefault("source", {})["user"] = source_user
    dst_user: dict[str, Any] = {}
    name = _first(f.get("dst_user_name"))
    if name:
        dst_user["name"] = name
    dn = _first(f.get("dst_user_dn"))
    if dn:
        dst_user["domain"] = dn
    incident = _first(f.get("usercheck_incident_uid"))
    if incident:
        dst_user["id"] = incident
    if dst_user:
        doc.setdefault("destination", {})["user"] = dst_user
    device = _first(f.get("device_name"))
    if device:
        doc["host"] = {"name": device}
        kind = _first(f.get("device_type"))
        if kind:
            doc["host"]["type"] = kind
    host = _first(f.get("http_host"))
    resource = _first(f.get("resource"))
    if host or resource:
        doc["url"] = {k: v for k, v in (("domain", host), ("original", resource)) if v}
    method = _first(f.get("method"))
    if method:
        doc["http"] = {"request": {"method": method}}
    agent = _first(f.get("user_agent"))
    if agent:
        doc["user_agent"] = {"original": agent}
        client = _first(f.get("web_client_type"))
        if client:
            doc["user_agent"]["name"] = client


def _threat(doc: dict[str, Any], f: Fields) -> None:
    file: dict[str, Any] = {}
    for key, target in (("file_name", "name"), ("file_type", "type")):
        value = _first(f.get(key))
        if value:
            file[target] = value
    size = _int(f.get("file_size"))
    if size is not None:
        file["size"] = size
    hashes = {algo: _first(f.get(f"file_{algo}")) for algo in ("md5", "sha1", "sha256")}
    hashes = {k: v for k, v in hashes.items() if v}
    if hashes:
        file["hash"] = hashes
    if file:
        doc["file"] = file
    protection = _first(f.get("protection_name"))
    if protection or f.get("malware_action") or _first(f.get("attack")):
        threat: dict[str, Any] = {"framework": "Check Point Threat Prevention"}
        indicator: dict[str, Any] = {}
        if protection:
            indicator["name"] = protection
        kind = _first(f.get("protection_type")) or _first(f.get("attack"))
        if kind:
            indicator["type"] = kind
        if indicator:
            threat["indicator"] = indicator
        doc["threat"] = threat
    cve = f.get("industry_reference")
    if cve:
        doc["vulnerability"] = {"id": cve}


def _related(doc: dict[str, Any]) -> None:
    ips: list[str] = []
    for side in ("source", "destination"):
        part = doc.get(side)
        if part:
            for value in (part.get("ip"), (part.get("nat") or {}).get("ip")):
                if value and value not in ips:
                    ips.append(value)
    for value in doc.get("observer", {}).get("ip", ()):
        if value not in ips:
            ips.append(value)
    users: list[str] = []
    for holder in (doc.get("user"), doc.get("source", {}).get("user"),
                   doc.get("destination", {}).get("user")):
        if holder:
            for key in ("name", "email", "id"):
                value = holder.get(key)
                if value and value not in users:
                    users.append(value)
    related: dict[str, Any] = {}
    if ips:
        related["ip"] = ips
    if users:
        related["user"] = users
    if related:
        doc["related"] = related

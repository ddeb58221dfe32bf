"""Exporter-named Check Point fields → an ECS document. Pure, no clock, never raises on values.

Follows Elastic's Check Point integration (``shared/corpus/checkpoint``) unless there is a reason
not to; every difference is listed in ``docs/checkpoint-conformance.md``. Values that do not fit
their ECS type (a ``src`` that is not an IP, a port of 99999) stay under ``checkpoint.*`` only,
so a hostile line cannot make Elasticsearch reject the document.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .checkpoint_kv import Fields
from .syslog_envelope import parse_iso

__all__ = ["event_time", "format_ts", "to_ecs"]

_TRANSPORT = {"0": "hopopt", "1": "icmp", "2": "igmp", "6": "tcp", "8": "egp", "17": "udp",
              "47": "gre", "50": "esp", "58": "ipv6-icmp", "112": "vrrp", "132": "sctp"}
_ALLOW = frozenset({"Accept", "Allow"})
_DENY = frozenset({"Drop", "Reject", "Block", "Prevent"})
_ALERT_RULE_ACTIONS = frozenset({"Prevent", "Detect", "Quarantine"})
_DETECT_PREVENT = frozenset({"Detect", "Prevent"})
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

#: groups of keys: a mapper runs only when the record has one of its keys
_RULE_KEYS = frozenset({"objectname", "rule_name", "malware_rule_name", "app_rule_name",
                        "dlp_rule_name", "malware_rule_id", "app_rule_id", "rule_uid",
                        "smartdefence_profile", "policy", "malware_action", "matched_category",
                        "categories"})
_USER_KEYS = frozenset({"administrator", "user", "src_user_name", "uid", "dst_user_name",
                        "dst_user_dn", "usercheck_incident_uid", "device_name", "http_host",
                        "resource", "method", "user_agent"})
_THREAT_KEYS = frozenset({"file_name", "file_type", "file_size", "file_md5", "file_sha1",
                          "file_sha256", "protection_name", "malware_action", "attack",
                          "industry_reference"})

_IP_CACHE: dict[str, bool] = {}
_TS_CACHE: dict[int, str] = {}
_TIME_CACHE: dict[str, tuple[str, str | None] | None] = {}
_MISSING = object()
_SIC_CACHE: dict[str, str | None] = {}
_TIME_RANGE_KEYS = frozenset({"start_time", "lastupdatetime"})
_NAT_KEYS = frozenset({"xlatesrc", "xlatesport", "xlatedst", "xlatedport"})
_SIDE_COUNT_KEYS = frozenset({"client_outbound_bytes", "server_outbound_bytes",
                              "client_outbound_packets", "server_outbound_packets"})


#: ASCII digits only: ``\d`` would also take Arabic-Indic and other digits, which Elasticsearch's
#: ``ip`` type rejects (the whole document would be refused)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}", re.ASCII)


def _is_ip(value: str) -> bool:
    known = _IP_CACHE.get(value)
    if known is not None:
        return known
    if _IPV4.fullmatch(value) is not None:
        ok = True
    elif ":" not in value:
        ok = False
    else:
        try:
            ipaddress.ip_address(value)
            ok = True
        except ValueError:
            ok = False
    if len(value) <= 64:  # never keep long hostile values
        if len(_IP_CACHE) > 50_000:
            _IP_CACHE.clear()
        _IP_CACHE[value] = ok
    return ok


def format_ts(moment: datetime) -> str:
    """UTC, millisecond precision, ``Z`` (what Elastic writes)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ts(seconds: int, millis: int = 0) -> str | None:
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
    cached = _TIME_CACHE.get(value, _MISSING)
    if cached is not _MISSING:
        return cached  # type: ignore[return-value]  # the cache holds only results
    result = _event_time(value)
    if len(value) <= 40:
        if len(_TIME_CACHE) > 4096:
            _TIME_CACHE.clear()
        _TIME_CACHE[value] = result
    return result


def _digits(value: str) -> bool:
    """ASCII digits only: ``str.isdigit`` is also true for ``²``, which ``int()`` refuses."""
    return value.isascii() and value.isdigit()


def _event_time(value: str) -> tuple[str, str | None] | None:
    if _digits(value):
        number = int(value)
        if number > 10**11:  # milliseconds
            ts = epoch_ts(number // 1000, number % 1000)
        else:
            ts = epoch_ts(number)
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


def _int(value: str | None, low: int = 0, high: int = _MAX_INT) -> int | None:
    if value is None:
        return None
    if len(value) < 19 and _digits(value):
        number = int(value)
        return number if low <= number <= high else None
    return None


def _ip(value: str | None) -> str | None:
    if value and value != "0.0.0.0":
        known = _IP_CACHE.get(value)
        if known if known is not None else _is_ip(value):
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


def classify(f: Fields, s: dict[str, str]) -> tuple[str, list[str], list[str], str | None, str | None]:
    """(kind, category, type, action, outcome) following Elastic's rules, plus audit changes."""
    action = s.get("action")
    operation = s.get("operation")
    rule_action = f.get("rule_action")
    rule_actions = rule_action if isinstance(rule_action, list) else \
        ([rule_action] if rule_action else [])
    status = s.get("audit_status")
    kind = "event"
    category: list[str] = []
    types: list[str] = []
    outcome: str | None = None
    if operation in ("Log In", "Log Out"):
        category.append("authentication")
        failed = status == "Failure" or s.get("operation_number") == "11"
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
    if not _ALERT_RULE_ACTIONS.isdisjoint(rule_actions):
        kind = "alert"
        if "intrusion_detection" not in category and not _DETECT_PREVENT.isdisjoint(rule_actions):
            category.append("intrusion_detection")
    elif s.get("product") in THREAT_PRODUCTS:
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


def dataset_of(f: Fields, s: dict[str, str]) -> str:
    if f.get("operation") is not None or f.get("is_audit") is not None or (
            s.get("product") in AUDIT_PRODUCTS and f.get("administrator") is not None):
        return "checkpoint.audit"
    if s.get("product") in THREAT_PRODUCTS:
        return "checkpoint.threat"
    return "checkpoint.firewall"


def to_ecs(f: Fields, *, header: Callable[[], tuple[str | None, str | None]],
           fallback: Callable[[], str]) -> dict[str, Any]:
    """Build the ECS document (without ``event.original``) from exporter-named fields.
    ``header()`` gives the syslog header time and zone; it is only called without ``time``."""
    doc: dict[str, Any] = {}
    s: dict[str, str] = f  # type: ignore[assignment]  # no repeated key in most lines: no copy
    for value in f.values():
        if value.__class__ is list:  # repeated keys: ECS scalars take the first value
            s = {k: (v[0] if v.__class__ is list else v) for k, v in f.items()}  # type: ignore[misc]  # first value of a repeated key
            break
    keys = f.keys()
    event: dict[str, Any] = {"module": "checkpoint", "dataset": dataset_of(f, s)}
    timestamp, zone = None, None
    raw_time = s.get("time")
    if raw_time:
        parsed = event_time(raw_time)
        if parsed is not None:
            timestamp, zone = parsed
    if timestamp is None:
        header_ts, header_zone = header()
        if header_ts is not None:
            timestamp, zone = header_ts, header_zone
    if timestamp is None:
        timestamp = fallback()
        doc["tags"] = ["timestamp_from_receipt"]
    doc["@timestamp"] = timestamp
    if zone:
        event["timezone"] = zone

    kind, category, types, action, outcome = classify(f, s)
    event["kind"] = kind
    event["category"] = category
    if types:
        event["type"] = types
    if action:
        event["action"] = action
    if outcome:
        event["outcome"] = outcome
    loguid = s.get("loguid")
    if loguid:
        event["id"] = loguid
    if "sequencenum" in f:
        sequence = _int(s["sequencenum"])
        if sequence is not None:
            event["sequence"] = sequence
    code = s.get("operation_number")
    if code:
        event["code"] = code
    if "severity" in f:
        severity = _int(s["severity"])
        if severity is not None:
            event["severity"] = severity
    info = s.get("additional_info")
    if info and info.startswith("Administrator failed to log in: "):
        event["reason"] = info[len("Administrator failed to log in: "):].strip()
    if not keys.isdisjoint(_TIME_RANGE_KEYS):
        for key, target in (("start_time", "start"), ("lastupdatetime", "end")):
            text = _first(f.get(key))
            if text:
                parsed = event_time(text)
                if parsed:
                    event[target] = parsed[0]
    doc["event"] = event
    message = s.get("subject") or s.get("sys_message") or \
        s.get("calc_desc")
    if message:
        doc["message"] = message

    _network(doc, f, s)
    _endpoints(doc, f, s)
    _observer(doc, f, s)
    if not keys.isdisjoint(_RULE_KEYS):
        _rule(doc, f, s)
    if not keys.isdisjoint(_USER_KEYS):
        _users(doc, f, s)
    if not keys.isdisjoint(_THREAT_KEYS):
        _threat(doc, f, s)
    _related(doc)
    vendor = dict(f)
    for key in _DROP:
        vendor.pop(key, None)
    doc["checkpoint"] = vendor
    return doc


def _network(doc: dict[str, Any], f: Fields, s: dict[str, str]) -> None:
    net: dict[str, Any] = {}
    proto = s.get("proto")
    if proto is not None and _digits(proto) and int(proto) <= 255:
        net["iana_number"] = proto
        transport = _TRANSPORT.get(proto)
        if transport:
            net["transport"] = transport
    app = s.get("service_id") or s.get("app_name")
    if app:
        net["application"] = app
    direction = s.get("ifdir")
    if direction:
        net["direction"] = direction
    layer = f.get("layer_name")
    if layer:
        net["name"] = layer
    if "bytes" in f:
        total_bytes = _int(s["bytes"])
        if total_bytes is not None:
            net["bytes"] = total_bytes
    packets = _int(s["packets"]) if "packets" in f else None
    if packets is None and "packet_amount" in f:
        packets = _int(s["packet_amount"])
    if packets is not None:
        net["packets"] = packets
    if s.get("product") == "Expert Shell":
        net["protocol"] = "ssh"
    if net:
        doc["network"] = net


def _endpoints(doc: dict[str, Any], f: Fields, s: dict[str, str]) -> None:
    src: dict[str, Any] = {}
    dst: dict[str, Any] = {}
    get = s.get
    ip = _ip(get("src")) or _ip(get("client_ip"))
    if ip:
        src["ip"] = ip
    value = get("s_port")
    if value is not None:
        port = _int(value, 0, 65535)
        if port is not None:
            src["port"] = port
    ip = _ip(get("dst"))
    if ip:
        dst["ip"] = ip
    value = get("service")
    if value is not None:
        port = _int(value, 0, 65535)
        if port is not None:
            dst["port"] = port
    keys = f.keys()
    if not keys.isdisjoint(_NAT_KEYS):
        nat_ip, nat_port = _ip(s.get("xlatesrc")), _int(s.get("xlatesport"), 1, 65535)
        if nat_ip or nat_port:
            src["nat"] = {k: v for k, v in (("ip", nat_ip), ("port", nat_port)) if v}
        nat_ip, nat_port = _ip(s.get("xlatedst")), _int(s.get("xlatedport"), 1, 65535)
        if nat_ip or nat_port:
            dst["nat"] = {k: v for k, v in (("ip", nat_ip), ("port", nat_port)) if v}
    if not keys.isdisjoint(_SIDE_COUNT_KEYS):
        for key, side in (("client_outbound_bytes", src), ("server_outbound_bytes", dst)):
            # a repeated key is a list, which _int does not take (the line is dead-lettered)
            count = _int(f.get(key))  # type: ignore[arg-type]  # see the comment above
            if count is not None:
                side["bytes"] = count
        for key, side in (("client_outbound_packets", src), ("server_outbound_packets", dst)):
            count = _int(f.get(key))  # type: ignore[arg-type]  # as above
            if count is not None:
                side["packets"] = count
    domain = s.get("src_machine_name") or s.get("machine")
    if domain:
        src["domain"] = domain
    domain = s.get("dst_machine_name") or s.get("destination_dns_hostname")
    if domain:
        dst["domain"] = domain
    if src:
        doc["source"] = src
    if dst:
        doc["destination"] = dst


def _observer(doc: dict[str, Any], f: Fields, s: dict[str, str]) -> None:
    obs: dict[str, Any] = {"vendor": "Checkpoint", "type": "firewall"}
    origin = s.get("origin")
    if origin:
        obs["name"] = origin
        if _is_ip(origin):
            obs["ip"] = [origin]
    product = s.get("product")
    if product:
        obs["product"] = product
    sic = s.get("originsicname")
    if sic:
        hostname = _SIC_CACHE.get(sic, _MISSING)
        if hostname is _MISSING:
            head = sic.split(",", 1)[0]
            hostname = head[3:] if head[:3].lower() == "cn=" and len(head) > 3 else None
            if len(sic) <= 256:
                if len(_SIC_CACHE) > 4096:
                    _SIC_CACHE.clear()
                _SIC_CACHE[sic] = hostname
        if hostname is not None:
            obs["hostname"] = hostname
    ifname = s.get("ifname")
    inbound = s.get("client_inbound_interface")
    outbound = s.get("client_outbound_interface") or \
        s.get("server_outbound_interface")
    if ifname and not inbound and s.get("ifdir") == "inbound":
        inbound = ifname
    elif ifname and not outbound and s.get("ifdir") != "inbound":
        outbound = ifname
    zone_in = s.get("inzone") or s.get("security_inzone")
    zone_out = s.get("outzone") or s.get("security_outzone")
    if inbound or zone_in:
        ingress: dict[str, Any] = {}
        if inbound:
            ingress["interface"] = {"name": inbound}
        if zone_in:
            ingress["zone"] = zone_in
        obs["ingress"] = ingress
    if outbound or zone_out:
        egress: dict[str, Any] = {}
        if outbound:
            egress["interface"] = {"name": outbound}
        if zone_out:
            egress["zone"] = zone_out
        obs["egress"] = egress
    version = s.get("update_version")
    if version:
        obs["version"] = version
    doc["observer"] = obs


def _rule(doc: dict[str, Any], f: Fields, s: dict[str, str]) -> None:
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


def _users(doc: dict[str, Any], f: Fields, s: dict[str, str]) -> None:
    admin = s.get("administrator")
    plain = s.get("user")
    src_name = s.get("src_user_name")
    if plain:
        doc["user"] = {"name": plain}
    elif admin:
        doc["user"] = _user(doc, admin, lower=True)
    source_user: dict[str, Any] = {}
    if src_name:
        source_user = {"name": src_name}
    elif admin:
        source_user = dict(_user(doc, admin, lower=True))
    uid = s.get("uid")
    if uid:
        source_user["id"] = uid
        doc.setdefault("user", {})["id"] = uid
    if source_user:
        doc.setdefault("source", {})["user"] = source_user
    dst_user: dict[str, Any] = {}
    name = s.get("dst_user_name")
    if name:
        dst_user["name"] = name
    dn = s.get("dst_user_dn")
    if dn:
        dst_user["domain"] = dn
    incident = s.get("usercheck_incident_uid")
    if incident:
        dst_user["id"] = incident
    if dst_user:
        doc.setdefault("destination", {})["user"] = dst_user
    device = s.get("device_name")
    if device:
        doc["host"] = {"name": device}
        kind = s.get("device_type")
        if kind:
            doc["host"]["type"] = kind
    host = s.get("http_host")
    resource = s.get("resource")
    if host or resource:
        doc["url"] = {k: v for k, v in (("domain", host), ("original", resource)) if v}
    method = s.get("method")
    if method:
        doc["http"] = {"request": {"method": method}}
    agent = s.get("user_agent")
    if agent:
        doc["user_agent"] = {"original": agent}
        client = s.get("web_client_type")
        if client:
            doc["user_agent"]["name"] = client


def _threat(doc: dict[str, Any], f: Fields, s: dict[str, str]) -> None:
    file: dict[str, Any] = {}
    for key, target in (("file_name", "name"), ("file_type", "type")):
        value = _first(f.get(key))
        if value:
            file[target] = value
    size = _int(s.get("file_size"))
    if size is not None:
        file["size"] = size
    hashes = {algo: s.get(f"file_{algo}") for algo in ("md5", "sha1", "sha256")}
    hashes = {k: v for k, v in hashes.items() if v}
    if hashes:
        file["hash"] = hashes
    if file:
        doc["file"] = file
    protection = s.get("protection_name")
    if protection or f.get("malware_action") or s.get("attack"):
        threat: dict[str, Any] = {"framework": "Check Point Threat Prevention"}
        indicator: dict[str, Any] = {}
        if protection:
            indicator["name"] = protection
        kind = s.get("protection_type") or s.get("attack")
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
    source, destination = doc.get("source"), doc.get("destination")
    for part in (source, destination):
        if part:
            value = part.get("ip")
            if value and value not in ips:
                ips.append(value)
            nat = part.get("nat")
            if nat:
                value = nat.get("ip")
                if value and value not in ips:
                    ips.append(value)
    observer = doc.get("observer")
    if observer:
        for value in observer.get("ip", ()):
            if value not in ips:
                ips.append(value)
    users: list[str] = []
    for holder in (doc.get("user"), source.get("user") if source else None,
                   destination.get("user") if destination else None):
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

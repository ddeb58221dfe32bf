"""Alert payloads, built from stored documents. Pure: no I/O, no clock (``now`` is passed in).

Alertmanager deduplicates alerts by their label set, so the labels of a finding's alert are a
function of the finding document alone (plus the static labels from the settings): every
re-post and the final resolve carry exactly the same set. Label values come from log content
(group-by fields such as ``source.ip`` or ``user.name``), which an attacker controls: they are
stripped of control characters and bounded in length, and a cut value keeps a short hash of the
whole so two long values never collapse into one label set.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..timefmt import iso_ms

__all__ = [
    "SIGNATURE_HEADER",
    "AlertOptions",
    "control_alert",
    "discover_url",
    "finding_alert",
    "label_name",
    "label_value",
    "resolved",
    "sign",
    "webhook_payload",
]

SIGNATURE_HEADER = "X-Monitor-Signature"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")
_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
#: annotation texts are for people; Alertmanager keeps them in memory, so they are bounded too
_MAX_ANNOTATION = 4000


@dataclass(frozen=True, slots=True)
class AlertOptions:
    """What the settings contribute to every alert."""

    static_labels: Mapping[str, str]
    max_label_length: int = 128
    resend_seconds: float = 60.0
    runbook_url: str | None = None
    kibana_url: str | None = None
    kibana_data_view: str = "monitor-events-*"
    #: rule id → the rule's triage note (the runbook when no runbook_url is set)
    notes: Mapping[str, str] | None = None

    @property
    def ends_after(self) -> timedelta:
        # Prometheus' choice: a missed re-post or two must not resolve a firing alert
        return timedelta(seconds=4 * self.resend_seconds)


def label_value(value: Any, limit: int) -> str:
    """A bounded, printable label value; a cut one ends with a hash of the whole (stable)."""
    text = "" if value is None else str(value)
    text = _CONTROL.sub("?", text).strip()
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{text[:limit - 14]}~{digest}"


def label_name(field: str) -> str:
    """``source.ip`` → ``source_ip`` (Prometheus label names allow ``[a-zA-Z0-9_]`` only)."""
    name = _LABEL_NAME.sub("_", field)
    if not name or name[0].isdigit():
        name = "_" + name
    return name.lstrip("_") or "field"


def _text(value: Any, limit: int = _MAX_ANNOTATION) -> str:
    text = "" if value is None else _CONTROL.sub(" ", str(value))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _multiline(value: str, limit: int = _MAX_ANNOTATION) -> str:
    """A note keeps its line breaks; every other control character goes."""
    lines = [_text(line, limit) for line in value.splitlines()]
    return _text("\n".join(lines), limit) if len("\n".join(lines)) > limit else "\n".join(lines)


def severity_at_least(severity: str, minimum: str) -> bool:
    return _SEVERITY_RANK.get(severity, 0) >= _SEVERITY_RANK.get(minimum, 0)


def _rison_string(value: str) -> str:
    return "'" + value.replace("!", "!!").replace("'", "!'") + "'"


def _kql_value(value: Any) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def discover_url(base: str, data_view: str, start: str | None, end: str | None,
                 group: Mapping[str, Any], query: str | None = None) -> str:
    """A Kibana Discover link over the finding's window, filtered on its group values.

    Values are KQL-quoted, then Rison-quoted, then URL-encoded: a hostile field value stays
    a literal inside the query and cannot add parameters to the link."""
    terms = [f"{field}:{_kql_value(value)}" for field, value in sorted(group.items())
             if value not in (None, "")]
    if query:
        terms.insert(0, f"({query})")
    kql = " and ".join(terms)
    g = f"(time:(from:{_rison_string(start or 'now-24h')},to:{_rison_string(end or 'now')}))"
    a = (f"(dataSource:(dataViewId:{_rison_string(data_view)},type:dataView),"
         f"query:(language:kuery,query:{_rison_string(kql)}))")
    def quote(text: str) -> str:
        return urllib.parse.quote(text, safe="(),:'!")

    return f"{base}/app/discover#/?_g={quote(g)}&_a={quote(a)}"


def _finding_labels(doc: Mapping[str, Any], opts: AlertOptions) -> dict[str, str]:
    finding, rule = doc.get("finding", {}), doc.get("rule", {})
    limit = opts.max_label_length
    labels = {label_name(k): label_value(v, limit) for k, v in opts.static_labels.items()}
    group = finding.get("group") or {}
    for key, value in sorted(group.items())[:4]:
        # stored with '_' for '.', already a valid label name once sanitized
        labels[label_name(key)] = label_value(value, limit)
    labels.update({
        "alertname": label_value(rule.get("name") or rule.get("id"), limit),
        "severity": label_value(rule.get("severity", "medium"), 16),
        "rule_id": label_value(rule.get("id"), 64),
        "finding_id": label_value(finding.get("id"), 64),
        "pci": label_value(",".join(sorted((doc.get("pci") or {}).get("requirements") or [])),
                           limit),
        "source": "monitor",
        "kind": "finding",
    })
    return {k: v for k, v in labels.items() if v != ""}


def _dotted_group(finding: Mapping[str, Any]) -> dict[str, Any]:
    """The group with its field names as in the events (``source.ip``): the stored group uses
    ``_`` for ``.``, the group key keeps the real names (field names carry no ``|`` or ``=``)."""
    stored = finding.get("group") or {}
    names = [part.split("=", 1)[0] for part in str(finding.get("group_key") or "").split("|")]
    return {name: stored[name.replace(".", "_")] for name in names
            if name.replace(".", "_") in stored}


def _window_text(finding: Mapping[str, Any]) -> str:
    window = finding.get("window") or {}
    return f"{window.get('start', '?')} .. {window.get('end', '?')}"


def finding_alert(doc: Mapping[str, Any], *, now: datetime, opts: AlertOptions,
                  resolve: bool = False) -> dict[str, Any]:
    """The Alertmanager API v2 alert of a finding document: firing until ``now + 4 x resend``,
    or resolved at ``now`` (``resolve``: acknowledged, closed or excepted)."""
    finding, rule = doc.get("finding", {}), doc.get("rule", {})
    fid, rule_id = str(finding.get("id", "")), str(rule.get("id", ""))
    group_text = _text(finding.get("group_key") or "-", 300)
    count = finding.get("count", 0)
    summary = _text(f"{rule.get('name', rule_id)}: {count} events for {group_text} "
                    f"({rule.get('severity', '?')})", 300)
    first = finding.get("first_seen") or (finding.get("window") or {}).get("start")
    last = finding.get("last_seen") or (finding.get("window") or {}).get("end")
    description = _text(
        f"What: {rule.get('description', '')}\nWhere: {group_text}\n"
        f"When: first event {first}, last event {last}\nCount: {count} in window "
        f"{_window_text(finding)}\nStatus: {finding.get('status', 'open')}")
    annotations = {"summary": summary, "description": description,
                   "evidence": f"monitor findings show {fid}"}
    note = (opts.notes or {}).get(rule_id)
    if opts.runbook_url:
        annotations["runbook_url"] = opts.runbook_url.replace("{rule_id}", rule_id)
    if note:
        annotations["runbook"] = _multiline(note)
    elif not opts.runbook_url:
        annotations["runbook"] = f"monitor rules list (rule {rule_id}): see the rule's note"
    alert: dict[str, Any] = {"labels": _finding_labels(doc, opts), "annotations": annotations,
                             "startsAt": first or iso_ms(now)}
    if opts.kibana_url:
        group = _dotted_group(finding)
        window = finding.get("window") or {}
        url = discover_url(opts.kibana_url, opts.kibana_data_view, first or window.get("start"),
                           last or window.get("end"), group)
        annotations["kibana_url"] = url
        alert["generatorURL"] = url
    alert["endsAt"] = iso_ms(now if resolve else now + opts.ends_after)
    return alert


def control_alert(doc: Mapping[str, Any], *, now: datetime, opts: AlertOptions,
                  resolve: bool = False) -> dict[str, Any]:
    """A failing (or unverifiable) compliance control: one alert per control and framework,
    whatever the day, so a control that keeps failing stays one alert until it passes."""
    control = doc.get("control", {})
    limit = opts.max_label_length
    labels = {label_name(k): label_value(v, limit) for k, v in opts.static_labels.items()}
    labels.update({
        "alertname": "MonitorComplianceControlFailing",
        "severity": "high",
        "control_id": label_value(control.get("id"), limit),
        "framework": label_value(control.get("framework"), 64),
        "pci": label_value(",".join(sorted(control.get("requirements") or [])), limit),
        "source": "monitor",
        "kind": "control",
    })
    status = control.get("status", "?")
    period = control.get("period") or {}
    evidence = control.get("counts") or {}
    summary = _text(f"PCI DSS control {control.get('id')} ({control.get('name', '')}) is "
                    f"{status} for requirement(s) {labels['pci'] or '-'}", 300)
    description = _text(
        f"Control: {control.get('name', '')}\nStatus: {status}\nReason: {control.get('reason')}\n"
        f"Evidence: {', '.join(f'{k}={v}' for k, v in sorted(evidence.items())) or '-'}\n"
        f"Period: {period.get('start')} .. {period.get('end')}, evaluated "
        f"{control.get('evaluated_at')}")
    annotations = {"summary": summary, "description": description,
                   "evidence": f"monitor compliance status --from {period.get('start')} "
                               f"--to {period.get('end')}",
                   "runbook": "Read the control's reason and evidence in the latest report; "
                              "insufficient_data means a source it reads is silent or missing."}
    return {"labels": {k: v for k, v in labels.items() if v != ""},
            "annotations": annotations,
            "startsAt": control.get("evaluated_at") or iso_ms(now),
            "endsAt": iso_ms(now if resolve else now + opts.ends_after)}


def resolved(alert: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The same alert (same labels), ending now."""
    return {**alert, "endsAt": iso_ms(now)}


def _fingerprint(labels: Mapping[str, str]) -> str:
    return hashlib.sha256("\x00".join(f"{k}\x00{v}" for k, v in
                                      sorted(labels.items())).encode()).hexdigest()[:16]


def webhook_payload(alerts: list[dict[str, Any]], *, now: datetime,
                    receiver: str = "monitor") -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) for receivers written against Alertmanager."""
    items = []
    for alert in alerts:
        ends = alert.get("endsAt")
        firing = ends is None or ends > iso_ms(now)
        items.append({"status": "firing" if firing else "resolved",
                      "labels": dict(alert["labels"]), "annotations": dict(alert["annotations"]),
                      "startsAt": alert.get("startsAt"),
                      "endsAt": ends if not firing else "0001-01-01T00:00:00Z",
                      "generatorURL": alert.get("generatorURL", ""),
                      "fingerprint": _fingerprint(alert["labels"])})
    common = dict(items[0]["labels"]) if items else {}
    for item in items[1:]:
        common = {k: v for k, v in common.items() if item["labels"].get(k) == v}
    status = "firing" if any(i["status"] == "firing" for i in items) else "resolved"
    return {"version": "4", "groupKey": f"monitor:{receiver}", "truncatedAlerts": 0,
            "status": status, "receiver": receiver, "groupLabels": {},
            "commonLabels": common, "commonAnnotations": {}, "externalURL": "",
            "alerts": items}


def sign(body: bytes, secret: bytes, timestamp: int) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "<unix>." + body>``: the timestamp is signed too,
    so a receiver can refuse a replayed body."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"

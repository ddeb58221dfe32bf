"""The compiled fast path (``native/``) against the reference normalizer (pure Python).

The fast path may decline a line (the reference then runs), but a line it takes must come out
exactly as the reference makes it: same ``_id``, same document. Checked on every corpus line,
on generated traffic (which it must take whole: the throughput target depends on it) and on
hypothesis-built lines aimed at the edges of what it claims (ports, IPs, times, envelopes,
duplicate keys, escapes, non-ASCII). The extension is built by ``scripts/bootstrap``; a missing
extension fails here rather than silently measuring the reference.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import monitor_native
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.model import DeadLetter, Document, EncodedSource, RawRecord
from monitor.normalize import native, normalize_checkpoint
from monitor.simulate import SimConfig, generate
from monitor.simulate.checkpoint import BruteForce, HostSweep, OutOfBandChange, PortScan
from monitor.store.writer import source_json

from .conformance import all_raw_lines

NOW = datetime(2026, 11, 25, 10, 30, 1, 250000, tzinfo=UTC)


def _no_repeated_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"repeated JSON key (Elasticsearch refuses it): {keys}"
    return dict(pairs)


def _both(payload: bytes, keep_original: bool = True) -> tuple[object, object]:
    record = RawRecord("checkpoint:test", payload, NOW)
    fast = normalize_checkpoint(record, keep_original)
    with native.enabled(False) as on:
        assert not on
        reference = normalize_checkpoint(record, keep_original)
    return fast, reference


def _same(payload: bytes, keep_original: bool = True) -> bool:
    """True when the fast path took the line (and then it must equal the reference)."""
    fast, reference = _both(payload, keep_original)
    if not (isinstance(fast, Document) and type(fast.source) is EncodedSource):
        assert type(fast) is type(reference)
        return False
    assert isinstance(reference, Document)
    assert fast.id == reference.id
    assert fast.source.decoded() == reference.source
    # the writer sends the fast path's bytes as they are: they must parse to the same document
    assert orjson.loads(source_json(fast.source)) == reference.source
    json.loads(source_json(fast.source), object_pairs_hook=_no_repeated_keys)
    assert fast.source.get("@timestamp") == reference.source["@timestamp"]
    return True


def test_extension_is_installed_and_active() -> None:
    assert native.active is monitor_native.normalize_syslog
    assert "native" in native.describe()
    with native.enabled(False):
        assert native.active is None and "reference" in native.describe()


def test_every_corpus_line_it_takes_matches_the_reference(shared_dir: Path) -> None:
    lines = all_raw_lines(shared_dir / "corpus" / "checkpoint")
    taken = sum(_same(line) for _, _, line in lines)
    # the corpus is mostly edge cases (ISO times, CEF, LEEF, JSON, escapes): the fast path takes
    # the plain Log Exporter lines among them, and must keep taking them
    assert taken >= 40, taken


def test_generated_traffic_is_all_taken_and_identical() -> None:
    scenarios = (PortScan(), BruteForce(), OutOfBandChange(), HostSweep())
    lines = [line for _, line in generate(SimConfig(count=3000, seed=7, scenarios=scenarios))]
    lines += [line for _, line in generate(SimConfig(count=1000, seed=8, events_per_second=2000.0))]
    taken = [_same(line.encode()) for line in lines]
    assert all(taken), f"{taken.count(False)} generated lines went to the reference"
    assert all(_same(line.encode(), keep_original=False) for line in lines[:200])


def test_fast_path_reasons_and_payload_ids() -> None:
    plain = b'<134>1 2026-01-01T00:00:00Z gw CheckPoint 1 - [time:"1767225600"; src:"10.0.0.1"]'
    assert _same(plain)  # no loguid: the id is the payload hash, as in the reference
    reason = monitor_native.normalize_syslog('[time:"2026-01-01T00:00:00Z"]', None, "s", True)
    assert isinstance(reason, str) and "time" in reason
    for declined in (b'[a:"x"; a:"y"; time:"1"]', b'[a:"x \\" y"; time:"1"]', b'[time:" 1"]',
                     b'\xef\xbb\xbf<134>Mar 29 13:19:22 gw CP: [time:"1"]', b'[Fields@1 a="b"]'):
        assert not _same(declined)


_KEYS = ("time", "src", "dst", "s_port", "service", "proto", "origin", "administrator",
         "operation", "rule_action", "action", "product", "user", "uid", "sequencenum", "loguid",
         "xlatesrc", "xlatesport", "xlatedst", "xlatedport", "additional_info", "start_time",
         "lastupdatetime", "originsicname", "ifname", "ifdir", "client_ip", "severity", "bytes",
         "packets", "packet_amount", "audit_status", "operation_number", "malware_action",
         "protection_name", "attack", "protection_type", "file_size", "file_name", "src_user_name",
         "dst_user_name", "device_name", "http_host", "resource", "method", "user_agent",
         "inzone", "outzone", "client_inbound_interface", "client_outbound_interface",
         "is_audit", "flags", "version", "log_format", "syslog_host", "subject",
         "industry_reference", "rule_name", "policy", "update_version", "web_client_type")
_WORDS = ("Log In", "Log Out", "Failed Log In", "Accept", "Drop", "Detect", "Prevent", "Reject",
          "Create", "Modify Rule", "Install Policy", "Success", "Failure", "IPS", "Anti-Bot",
          "SmartConsole", "WEB_API", "Expert Shell", "VPN-1 & FireWall-1", "inbound", "outbound",
          "11", "0", "6", "17", "0006", "256", "65535", "65536", "99999999999999999999",
          "1767225600", "1767225600123", "253402300799", "253402300800", "2026-01-01T00:00:00Z",
          "10.0.0.1", "0.0.0.0", "010.0.0.1", "256.1.1.1", "1.2.3", "::1", "fe80::1%eth0",
          "::ffff:1.2.3.4", "2001:db8::1:0:0:1", "1:2:3:4:5:6:7:8:9", ":::", "1::2::3",
          "Admin@Example.COM", "ADMIN", "a@", "@b", "a b@c", "cn=gw,o=x", "CN=", "Cn=gw",
          "Administrator failed to log in: wrong password  ", "١٢٣", "²", "ﬁx", "İ", "x\u3000")
_TEXT = st.text(alphabet=st.sampled_from(list("abAZ09._-@:,= ;]\\\"\t\x01é中\u2028")), max_size=12)
_VALUE = st.one_of(st.sampled_from(_WORDS), _TEXT, st.integers(0, 10**20).map(str))
_KEY = st.one_of(st.sampled_from(_KEYS), st.text(alphabet="abz_-0.@", min_size=1, max_size=6))
_ENVELOPE = st.sampled_from((
    "<134>1 2026-01-01T00:00:00Z gw-1 CheckPoint 1930 - ", "<134>1 - - - - - ", "1 a b c d ",
    "<134>Mar 29 13:19:22 gw CheckPoint[1930]: ", "<13>Mar  9 01:02:03 host app: ",
    "Foo 29 13:19:22 gw x: ", "<999999>", "", "  ", "<134>Feb 30 13:19:22 gw: ",
    "<134>Mar 29 13:19:22 gw\u00a0x: ", "<134>1 2026-01-01T00:00:00Z g\u00e9 CP 1 - "))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ENVELOPE, st.lists(st.tuples(_KEY, _VALUE), max_size=14),
       st.sampled_from(("1767225600", "1767225600999", "")), st.sampled_from(("; ", ";", "::")),
       st.sampled_from(("]", "] tail", "]]", "")))
def test_built_lines_are_declined_or_identical(envelope: str, fields: list[tuple[str, str]],
                                               time: str, separator: str, end: str) -> None:
    pairs = ([("time", time)] if time else []) + fields
    colon = ":" if separator != "::" else "::"
    sep = "; " if separator == "::" else separator
    body = sep.join(f'{key}{colon}"{value}"' for key, value in pairs)
    payload = (envelope + "[" + body + end).encode("utf-8")
    result = normalize_checkpoint(RawRecord("prop", payload, NOW))
    assert isinstance(result, (Document, DeadLetter))
    _same(payload)

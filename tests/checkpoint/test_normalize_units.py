"""Table tests of the normalizer's Check Point specifics (format quirks from the reference)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.model import DeadLetter, Document, RawRecord
from monitor.normalize import normalize_api_log, normalize_checkpoint
from monitor.normalize.ids import checkpoint_event_id, payload_id

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def doc(line: str | bytes, keep: bool = True) -> dict:
    raw = line.encode() if isinstance(line, str) else line
    result = normalize_checkpoint(RawRecord("t", raw, NOW), keep)
    assert isinstance(result, Document), getattr(result, "reason", "")
    return result.source


H = "<134>1 2020-03-29T13:19:22Z gw-1 CheckPoint 1930 - "


@pytest.mark.parametrize(("time_value", "expected"), [
    ("1657997480", "2022-07-16T18:51:20.000Z"),
    ("1669999152000", "2022-12-02T16:39:12.000Z"),
    ("1669999152123", "2022-12-02T16:39:12.123Z"),
    ("2021-05-05T12:27:09Z", "2021-05-05T12:27:09.000Z"),
    ("2021-05-05T12:27:09+02:00", "2021-05-05T10:27:09.000Z"),
])
def test_time_formats(time_value: str, expected: str) -> None:
    assert doc(H + f'[time:"{time_value}"; action:"Accept"]')["@timestamp"] == expected


def test_header_time_when_no_time_field_and_broken_offset() -> None:
    line = '<85>1 2023-01-13T10:10:16--5:00 h CP-GW - Log [Fields@1.3.6.1.4.1.2620 src="1.2.3.4" ]'
    d = doc(line)
    assert d["@timestamp"] == "2023-01-13T15:10:16.000Z" and d["event"]["timezone"] == "-05:00"


def test_rfc3164_envelope_year_from_receipt() -> None:
    d = doc('<134>Mar 29 13:19:22 gw CheckPoint[1930]: [action:"Drop"; src:"10.1.1.1"]')
    assert d["@timestamp"] == "2026-03-29T13:19:22.000Z" and d["event"]["action"] == "Drop"


def test_escapes_duplicates_and_double_colon() -> None:
    d = doc(H + r'[layer_name:"Network"; layer_name:"Admin"; rule_name:"a"; rule_name:"b"; '
                r'sys_message::"interface \"eth0\" x"; tag:"p[q=1\]"; product:"System Monitor"]')
    assert d["network"]["name"] == ["Network", "Admin"]
    assert d["rule"]["name"] == ["a", "b"]
    assert d["checkpoint"]["sys_message"] == 'interface "eth0" x'
    assert d["checkpoint"]["tag"] == "p[q=1]"
    assert d["message"] == 'interface "eth0" x'


def test_original_is_configurable_and_id_is_stable() -> None:
    line = H + '[loguid:"{0x1,0x2,0x3,0x4}"; sequencenum:"2"; origin:"10.0.0.1"; action:"Accept"]'
    first = normalize_checkpoint(RawRecord("a", line.encode(), NOW))
    second = normalize_checkpoint(RawRecord("b", line.encode(), NOW), keep_original=False)
    assert isinstance(first, Document) and isinstance(second, Document)
    body = line[line.index("[") + 1:line.rindex("]")]
    assert first.id == second.id == checkpoint_event_id("{0x1,0x2,0x3,0x4}", "2", "10.0.0.1",
                                                        body)
    assert first.source["event"]["original"] == line
    assert "original" not in second.source["event"]
    update = normalize_checkpoint(RawRecord("a", line.replace('"2"', '"3"').encode(), NOW))
    assert isinstance(update, Document) and update.id != first.id  # log update = new doc
    no_uid = H + '[action:"Accept"]'
    plain = normalize_checkpoint(RawRecord("a", no_uid.encode(), NOW))
    assert isinstance(plain, Document) and plain.id == payload_id("a", no_uid.encode())


def test_audit_classification() -> None:
    failed = doc(H + '[operation:"Log In"; audit_status:"Failure"; operation_number:"11"; '
                     'administrator:"Bob@Example.org"; client_ip:"1.2.3.4"; product:"SmartConsole"; '
                     'additional_info:"Administrator failed to log in: Wrong Password"]')
    assert failed["event"]["action"] == "logon-failed" and failed["event"]["outcome"] == "failure"
    assert failed["event"]["category"] == ["authentication"]
    assert failed["event"]["dataset"] == "checkpoint.audit"
    assert failed["event"]["reason"] == "Wrong Password"
    assert failed["user"] == {"name": "bob", "email": "bob@example.org", "domain": "example.org"}
    install = doc(H + '[operation:"Install Policy"; audit_status:"Success"; objectname:"gw-1"; '
                      'administrator:"admin"; product:"SmartConsole"; action:"Accept"]')
    assert install["event"]["category"] == ["configuration"] and install["event"]["type"] == ["change"]
    assert install["event"]["outcome"] == "success" and install["rule"]["name"] == "gw-1"


def test_threat_fields() -> None:
    d = doc(H + '[action:"Prevent"; rule_action:"Prevent"; product:"IPS"; protection_name:"Log4j"; '
                'protection_type:"IPS"; industry_reference:"CVE-2021-44228"; severity:"3"; '
                'src:"1.1.1.1"; dst:"10.0.0.5"; service:"8080"; proto:"6"]')
    assert d["event"]["kind"] == "alert" and "intrusion_detection" in d["event"]["category"]
    assert d["threat"]["indicator"]["name"] == "Log4j"
    assert d["vulnerability"]["id"] == "CVE-2021-44228" and d["event"]["severity"] == 3
    assert d["event"]["dataset"] == "checkpoint.threat"


def test_nat_skips_zero_values() -> None:
    d = doc(H + '[src:"10.0.0.1"; xlatesrc:"0.0.0.0"; xlatesport:"0"; xlatedst:"5.5.5.5"; '
                'xlatedport:"8443"]')
    assert "nat" not in d["source"]
    assert d["destination"]["nat"] == {"ip": "5.5.5.5", "port": 8443}


def test_partial_record_reports_leftover() -> None:
    d = doc(H + '[action:"Accept"; src:"10.0.0.1"; garbage without quotes; dst:"10.0.0.2"')
    assert d["source"]["ip"] == "10.0.0.1" and d["destination"]["ip"] == "10.0.0.2"
    assert "partially_parsed" in d["tags"] and "garbage" in d["checkpoint"]["unparsed"]


def test_cef_and_leef() -> None:
    cef = doc("CEF:0|Check Point|VPN-1 & FireWall-1|Check Point|Log|https|Unknown|act=Drop "
              "rt=1543270652000 spt=49363 dpt=443 src=192.168.1.1 dst=10.0.0.1 proto=6 "
              "originsicname=CN\\=R80,O\\=R80_M..6u6bdo loguid={0x1,0x2}")
    assert cef["event"]["action"] == "Drop" and cef["destination"]["port"] == 443
    assert cef["@timestamp"] == "2018-11-26T22:17:32.000Z" and cef["observer"]["hostname"] == "R80"
    leef = doc("LEEF:2.0|Check Point|VPN-1 & FireWall-1|1.0|Decrypt|cat=VPN\tdevTime=1546548320"
               "\tsrcPort=35354\taction=Decrypt\tsrc=10.148.64.188\tdst=192.168.153.45\tproto=6")
    assert leef["source"] == {"ip": "10.148.64.188", "port": 35354}
    assert leef["@timestamp"] == "2019-01-03T20:45:20.000Z"


def test_api_log_field_names() -> None:
    log = {"id": "ac17545d-440a-0000-5e80-a70500000000", "time": "2020-03-29T13:47:49Z",
           "orig": "dummyGW", "i_f_dir": "inbound", "i_f_name": "eth0", "src": "10.0.0.90",
           "dst": "194.29.36.43", "s_port": "49511", "service": "8080", "proto": "6",
           "product": "Threat Emulation", "action": "Detect", "malware_action": ["A", "B"],
           "TP_match_table": [{"layer_name": "Standard Threat Prevention"}],
           "dst_attr": [{"isCHKPObject": "false", "resolved": "proxy.example"}],
           "sequencenum": "3", "file_sha256": "e68f"}
    result = normalize_api_log(log, RawRecord("api", b"{}", NOW))
    assert isinstance(result, Document)
    d = result.source
    assert d["event"]["id"] == log["id"] and d["observer"]["name"] == "dummyGW"
    assert d["network"]["direction"] == "inbound" and d["destination"]["domain"] == "proxy.example"
    assert d["rule"]["description"] == ["A", "B"] and d["file"]["hash"]["sha256"] == "e68f"
    assert d["network"]["name"] == "Standard Threat Prevention"


def test_bad_payloads_are_dead_letters() -> None:
    for payload in (b'{"broken json', b"[1, 2]", b"CEF:0|only|three", b"\x00\x01\x02"):
        assert isinstance(normalize_checkpoint(RawRecord("t", payload, NOW)), DeadLetter)

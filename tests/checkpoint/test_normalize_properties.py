"""Property tests: random and mutated lines never make the normalizer raise; every input is
either a document for the events index or a dead letter with a reason."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.model import DeadLetter, Document, EncodedSource, RawRecord
from monitor.normalize import native, normalize_checkpoint
from monitor.store.writer import source_json

NOW = datetime(2026, 11, 25, tzinfo=UTC)
SEEDS = [
    (b'<134>1 2020-03-29T13:19:22Z gw CheckPoint 1930 - [action:"Accept"; loguid:"{0x1,0x2,0x3,0x4}"; '
     b'origin:"192.168.1.100"; src:"10.0.0.1"; dst:"10.0.0.2"; s_port:"1234"; service:"443"; '
     b'proto:"6"; time:"1585487925"; layer_name:"A"; layer_name:"B"; sys_message::"x \\"y\\" \\]"]'),
    (b'<85>1 2023-01-13T12:10:16--5:00 172.16.2.9 CP-GW - Log [Fields@1.3.6.1.4.1.2620 src="1.2.3.4" '
     b'proto="6" ProductName="VPN-1 & FireWall-1" ]'),
    (b'CEF:0|Check Point|VPN-1 & FireWall-1|Check Point|Log|https|Unknown|act=Accept rt=1543270652000 '
     b'spt=49363 dpt=443 src=1.1.1.1 originsicname=CN\\=R80,O\\=x'),
    b'LEEF:2.0|Check Point|VPN-1 & FireWall-1|1.0|Decrypt|cat=VPN\tdevTime=1546548320\tsrcPort=35354',
    b'{"id": "ac17545d", "time": "2020-03-29T13:47:49Z", "orig": "gw", "src": "10.0.0.90"}',
    b'<134>Mar 29 13:19:22 gw CheckPoint[1930]: [action:"Drop"; src:"10.1.1.1"]',
]


def _check(payload: bytes) -> None:
    result = normalize_checkpoint(RawRecord("prop", payload, NOW))
    assert isinstance(result, (Document, DeadLetter))
    if isinstance(result, DeadLetter):
        assert result.reason and result.raw == payload[:len(result.raw)]
        return
    assert result.kind == "events" and len(result.id) == 40
    source = result.source
    assert isinstance(source["@timestamp"], str) and source["@timestamp"].endswith("Z")
    assert orjson.loads(source_json(source)) == source  # serializable as the writer does it
    if type(source) is EncodedSource:  # the compiled fast path took it: same as the reference
        with native.enabled(False):
            reference = normalize_checkpoint(RawRecord("prop", payload, NOW))
        assert isinstance(reference, Document) and reference.id == result.id
        assert source == reference.source
    for side in ("source", "destination"):
        port = source.get(side, {}).get("port")
        assert port is None or 0 <= port <= 65535


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes(payload: bytes) -> None:
    _check(payload)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('abc:;"[]\\ =|{}<>0123456789-.Z@\t\n')),
               max_size=400))
def test_random_structured_text(text: str) -> None:
    _check(text.encode())
    _check(b"<134>1 2020-03-29T13:19:22Z gw CheckPoint 1 - [" + text.encode() + b"]")
    _check(b"CEF:0|a|b|c|d|e|f|" + text.encode())


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_real_lines(seed: bytes, data: st.DataObject) -> None:
    mutated = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]))
        pos = data.draw(st.integers(0, max(0, len(mutated) - 1)))
        if op == "flip" and mutated:
            mutated[pos] = data.draw(st.integers(0, 255))
        elif op == "insert":
            mutated[pos:pos] = data.draw(st.binary(min_size=1, max_size=20))
        elif op == "delete" and mutated:
            del mutated[pos:pos + data.draw(st.integers(1, 20))]
        elif op == "truncate":
            del mutated[pos:]
        elif op == "dup":
            mutated[pos:pos] = mutated[pos:pos + 40]
    _check(bytes(mutated))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=20),
                       st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1),
                                 st.floats(allow_nan=False),
                                 st.text(max_size=50),
                                 st.lists(st.text(max_size=10), max_size=3),
                                 st.dictionaries(st.text(max_size=5), st.integers(-2**63, 2**63 - 1),
                                                 max_size=3)),
                       max_size=15))
def test_random_json_objects(obj: dict) -> None:
    _check(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS))


def test_hostile_values_stay_out_of_typed_fields() -> None:
    line = (b'<134>1 2020-03-29T13:19:22Z gw CheckPoint 1 - [src:"not-an-ip"; dst:"999.1.1.1"; '
            b's_port:"99999"; service:"-1"; proto:"6666"; time:"99999999999999999999"; '
            b'sequencenum:"12345678901234567890123"; origin:"x"]')
    result = normalize_checkpoint(RawRecord("t", line, NOW))
    assert isinstance(result, Document)
    doc = result.source
    assert "ip" not in doc.get("source", {}) and "ip" not in doc.get("destination", {})
    assert "port" not in doc.get("source", {}) and "port" not in doc.get("destination", {})
    assert "sequence" not in doc["event"] and "transport" not in doc.get("network", {})
    assert doc["@timestamp"] == "2020-03-29T13:19:22.000Z"  # bad `time` → header time
    assert doc["checkpoint"]["src"] == "not-an-ip"


def test_oversized_and_empty_records_are_dead_letters() -> None:
    assert isinstance(normalize_checkpoint(RawRecord("t", b"x" * 300_000, NOW)), DeadLetter)
    assert isinstance(normalize_checkpoint(RawRecord("t", b"  \r\n", NOW)), DeadLetter)
    letter = normalize_checkpoint(RawRecord("t", b"hello world", NOW))
    assert isinstance(letter, DeadLetter) and "no Check Point fields" in letter.reason


def test_corpus_lines_survive_mutation(shared_dir: Path) -> None:
    path = shared_dir / "corpus/checkpoint/elastic-integrations/test-checkpoint-audit.log"
    for line in path.read_bytes().splitlines():
        for cut in range(0, len(line), 37):
            _check(line[:cut])
            _check(line[cut:])

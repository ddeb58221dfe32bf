"""Conformance with Elastic's Check Point parser over every line of the shared corpus."""
from __future__ import annotations

from pathlib import Path

from monitor.model import DeadLetter, Document, RawRecord
from monitor.normalize import normalize_checkpoint

from .conformance import FIELDS, RECEIVED, all_raw_lines, run


def test_every_corpus_line_becomes_a_document(shared_dir: Path) -> None:
    corpus = shared_dir / "corpus" / "checkpoint"
    lines = all_raw_lines(corpus)
    assert len(lines) >= 200
    letters = []
    for file, number, raw in lines:
        result = normalize_checkpoint(RawRecord("corpus", raw, RECEIVED))
        if isinstance(result, DeadLetter):
            letters.append((file, number, result.reason))
        else:
            assert isinstance(result, Document) and result.kind == "events"
            assert result.source["observer"]["vendor"] == "Checkpoint"
    assert letters == []


def test_agreement_with_elastic_expected_output(shared_dir: Path) -> None:
    report = run(shared_dir / "corpus" / "checkpoint")
    assert report.pairs >= 160
    assert report.dead_letters == []
    assert report.ratio() >= 0.95, report.ratio()
    for name in FIELDS:
        if name == "event.category":
            continue
        assert report.ratio(name) >= 0.95, (name, report.ratio(name))
    # the one deliberate divergence: audit changes are "configuration", Elastic says "network"
    for name, _file, _line, want, got in report.differences:
        if name == "event.category":
            assert want == frozenset({"network"}) and got == frozenset({"configuration"})


def test_spliced_record_keeps_what_parsed(shared_dir: Path) -> None:
    path = shared_dir / "corpus/checkpoint/elastic-integrations/test-r81x.log"
    spliced = path.read_bytes().splitlines()[3]
    doc = normalize_checkpoint(RawRecord("corpus", spliced, RECEIVED))
    assert isinstance(doc, Document)
    assert doc.source["event"]["id"].startswith("{0x")
    assert "spliced_record_suspected" in doc.source["tags"]
    assert isinstance(doc.source["checkpoint"]["loguid"], list)  # the second record is kept

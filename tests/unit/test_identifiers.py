"""One ticket pattern and one SHA reading, shared by the normalizer, the reconcile rule, the
reconcile control and the report (they used to disagree: a change the normalizer recorded with
ticket ``INC0012345`` was unknown to the rule, and ``2024123`` counted as a SHA in one place)."""
from __future__ import annotations

from monitor.compliance.checks.reconcile import references
from monitor.compliance.controls import Reconcile
from monitor.detect.types.reconcile import tokens
from monitor.identifiers import OBJECT_ID, TICKET, shas_in
from monitor.normalize.changes import find_tickets

TEXT = "git:fw-policy@3F2A9C1 INC0012345 PAY-42 build 2024123 id 123456789012 CHG0887797"


def test_shas_in_skips_short_numbers_and_keeps_hex_words() -> None:
    assert shas_in(TEXT) == ["3f2a9c1", "123456789012"]


def test_ticket_pattern_is_the_normalizers() -> None:
    assert TICKET.findall(TEXT) == ["INC0012345", "PAY-42", "CHG0887797"]
    assert find_tickets([TEXT]) == TICKET.findall(TEXT)


def test_rule_control_and_normalizer_agree() -> None:
    shas, tickets = tokens([TEXT])
    assert shas == shas_in(TEXT)
    assert tickets == find_tickets([TEXT])
    check = Reconcile.model_construct(field="checkpoint.session_name")
    answer = {"aggregations": {"refs": {"buckets": [{"key": {"ref": TEXT}}]}}}
    assert references(check, answer, {})[TEXT] == sorted({*shas_in(TEXT), *find_tickets([TEXT])})


def test_object_id_is_a_full_sha1_or_sha256() -> None:
    assert OBJECT_ID.match("a" * 40) and OBJECT_ID.match("b" * 64)
    assert not OBJECT_ID.match("a" * 39) and not OBJECT_ID.match("A" * 40)


def test_object_id_refuses_a_trailing_newline() -> None:
    """A cursor or API value ``<sha>\\n`` reaches git's argv and URLs only as a full id."""
    assert not OBJECT_ID.match("a" * 40 + "\n")
    assert not OBJECT_ID.match("b" * 64 + "\n")

"""One incident, one finding across the pack: no two enabled rules fire on the same events for
the same reason. Every enabled rule runs over every positive fixture case of every other one
(real Elasticsearch); a pair that shares events must be listed here with the reason its
question differs."""
from __future__ import annotations

from monitor.detect.fixtures import overlaps
from monitor.detect.loader import load_rules
from monitor.store import Store

BRUTE = "9a1b2c3d-5e6f-4a7b-8c9d-0e1f2a3b4c51"
BRUTE_THEN_SUCCESS = "4d5e6f70-8192-4a3b-9c4d-5e6f7a8b9c61"
AFTER_HOURS = "3e4f5061-7283-4d9e-afb0-c1d2e3f40621"
OUT_OF_BAND = "83b4c5d6-c7d8-42e3-b405-162738495b71"
SPRAY = "94c5d6e7-d8e9-43f4-8516-2738495a6c81"
VPN_BRUTE = "2c7d9e10-4a5b-4c3d-8e2f-6a7b8c9d0e21"
NO_CHECKS = "c7f8091a-0b1c-46c7-b849-5a6b7c8d9fb1"
OUTSIDE_WINDOW = "d8091a2b-1c2d-47d8-895a-6b7c8d9e0fc1"
_WHEN_NOT_WHAT = ("one asks when (outside the inventory's hours or windows), the other whether "
                  "the change was approved or tested: each is a separate control failure")
#: (rule, other) → why both findings are wanted on the same events
DIFFERENT_QUESTIONS = {
    (BRUTE_THEN_SUCCESS, BRUTE): "failures followed by a success is a likely compromise, a "
                                 "different and more severe finding than the attempt alone",
    (AFTER_HOURS, OUT_OF_BAND): _WHEN_NOT_WHAT,
    (NO_CHECKS, OUTSIDE_WINDOW): _WHEN_NOT_WHAT,
    (OUTSIDE_WINDOW, NO_CHECKS): _WHEN_NOT_WHAT,
    (SPRAY, VPN_BRUTE): "spraying (many accounts, T1110.003) and guessing (many tries, "
                        "T1110.001) are different techniques; a burst that is both is both",
}


async def test_no_two_enabled_rules_fire_on_the_same_events(dstore: Store) -> None:
    pack = load_rules()
    found = await overlaps(list(pack.rules), dstore)
    names = {r.id: r.name for r in pack}
    unexplained = sorted({(o.rule_id, o.other_id, o.case) for o in found
                          if (o.rule_id, o.other_id) not in DIFFERENT_QUESTIONS})
    assert not unexplained, "\n".join(f"{names[a]} <- {names[b]} ({case})"
                                      for a, b, case in unexplained)


async def test_the_duplicate_sigma_brute_force_would_be_caught(dstore: Store) -> None:
    pack = load_rules()
    sigma = pack.by_id["6b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"]
    assert not sigma.rule.enabled  # disabled in the pack because of exactly this
    enabled = sigma.rule.model_copy(update={"enabled": True})
    entries = [e for e in pack.rules if e.rule.id in (BRUTE, sigma.rule.id)]
    entries = [e if e.rule.id != sigma.rule.id else type(e)(enabled, e.path) for e in entries]
    pairs = {(o.rule_id, o.other_id) for o in await overlaps(entries, dstore)}
    assert (BRUTE, sigma.rule.id) in pairs or (sigma.rule.id, BRUTE) in pairs

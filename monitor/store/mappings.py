"""Explicit mappings per index kind. ECS names, so Kibana and Elastic's rules read our data.

Strings default to ``keyword`` (exact match, aggregations) with an ``ignore_above`` so a hostile
10 MB field cannot fail a document; free text (messages, commit bodies) is ``text``.
``event.original`` is stored but not indexed: it is evidence, not a search field.
"""
from __future__ import annotations

from typing import Any

__all__ = ["CHECKPOINT_QUERIED_FIELDS", "COMMON_DYNAMIC_TEMPLATES", "KIND_MAPPINGS"]

KW = {"type": "keyword", "ignore_above": 1024}
IP = {"type": "ip"}
DATE = {"type": "date"}
LONG = {"type": "long"}
TEXT = {"type": "text"}
BOOL = {"type": "boolean"}
FLOAT = {"type": "float"}
STORED_ONLY = {"type": "keyword", "index": False, "doc_values": False}


def _obj(**props: Any) -> dict[str, Any]:
    return {"properties": props}


COMMON_DYNAMIC_TEMPLATES: list[dict[str, Any]] = [
    {"strings_as_keyword": {"match_mapping_type": "string",
                            "mapping": {"type": "keyword", "ignore_above": 1024}}},
]

#: a keyword kept searchable up to Lucene's term limit (32 KB) for text matched by wildcard
LONG_KW = {"type": "keyword", "ignore_above": 8191}

#: ``checkpoint.*`` keys that rules, controls and reports query. The rest of ``checkpoint.*``
#: is mapped dynamically, and its keys come from the sender: mapped up front, these can never
#: be crowded out when a flood of unknown keys reaches the field limit (past the limit new
#: keys are kept in ``_source`` and listed in ``_ignored``, the document is still indexed;
#: see ``indices.template_bodies``). tests/store pins this list to what rules/ references.
CHECKPOINT_QUERIED_FIELDS = (
    "additional_info", "administrator", "audit_status", "blocked", "client_ip", "objectname",
    "objecttype", "operation", "product", "protection_name", "session_name", "session_uid",
    "severity")

_ENDPOINT = _obj(ip=IP, port=LONG, mac=KW, bytes=LONG, packets=LONG, domain=KW,
                 address=KW, zone=KW,
                 nat=_obj(ip=IP, port=LONG), geo=_obj(country_iso_code=KW, name=KW),
                 user=_obj(name=KW, id=KW, domain=KW), service=_obj(name=KW))

_EVENT = _obj(kind=KW, category=KW, type=KW, action=KW, outcome=KW, id=KW, code=KW,
              original=STORED_ONLY, ingested=DATE, created=DATE, dataset=KW, module=KW,
              severity=LONG, risk_score=FLOAT, sequence=LONG, provider=KW, reason=KW,
              timezone=KW, duration=LONG, start=DATE, end=DATE)

_COMMON = {
    "@timestamp": DATE,
    "message": TEXT,
    "tags": KW,
    "labels": {"type": "object", "dynamic": True},
    "ecs": _obj(version=KW),
    "event": _EVENT,
    "observer": _obj(name=KW, product=KW, vendor=KW, type=KW, hostname=KW, ip=IP,
                     ingress=_obj(interface=_obj(name=KW)), egress=_obj(interface=_obj(name=KW))),
    "user": _obj(name=KW, id=KW, domain=KW, email=KW, roles=KW,
                 target=_obj(name=KW)),
    "host": _obj(name=KW, ip=IP, hostname=KW),
    "related": _obj(ip=IP, user=KW, hash=KW, hosts=KW),
    "service": _obj(name=KW, type=KW),
    "monitor": _obj(source=KW, instance=KW),
}

EVENTS: dict[str, Any] = {
    **_COMMON,
    "source": _ENDPOINT,
    "destination": _ENDPOINT,
    "client": _ENDPOINT,
    "server": _ENDPOINT,
    "network": _obj(transport=KW, protocol=KW, direction=KW, iana_number=KW, bytes=LONG,
                    packets=LONG, application=KW, name=KW, type=KW),
    "rule": _obj(id=KW, uuid=KW, name=KW, ruleset=KW, category=KW, description=KW,
                 reference=KW, version=KW, action=KW),
    "url": _obj(original=KW, domain=KW, path=KW, full=KW, scheme=KW),
    "file": _obj(name=KW, hash=_obj(md5=KW, sha1=KW, sha256=KW), size=LONG, type=KW),
    "threat": _obj(framework=KW, tactic=_obj(id=KW, name=KW),
                   technique=_obj(id=KW, name=KW),
                   indicator=_obj(type=KW, name=KW)),
    "vulnerability": _obj(id=KW, severity=KW, score=_obj(base=FLOAT)),
    "checkpoint": {"type": "object", "dynamic": True, "properties": {
        **{key: KW for key in CHECKPOINT_QUERIED_FIELDS},
        # change descriptions and ticket text are matched with wildcards: index long ones too
        "fieldschanges": LONG_KW, "session_description": LONG_KW,
    }},
}

CHANGES: dict[str, Any] = {
    **_COMMON,
    "change": _obj(
        kind=KW, id=KW, repo=KW, branch=KW, ref=KW, environment=KW, sha=KW, parents=KW,
        is_merge=BOOL, mainline=BOOL, url=KW,
        subject=TEXT, body=TEXT, tickets=KW, trailers=_obj(key=KW, value=KW),
        change_id=KW, reviewed_by=KW, approved_by=KW, co_authors=KW,
        author=_obj(name=KW, email=KW, login=KW, time=DATE),
        committer=_obj(name=KW, email=KW, login=KW, time=DATE),
        tagger=_obj(name=KW, email=KW, time=DATE),
        approvers=KW, approvals=_obj(login=KW, name=KW),
        independent_approvers=KW, independent_approval=BOOL, approved_head=BOOL,
        checks_passed=BOOL, checks_sha=KW, checks_required=KW, checks_missing=KW,
        checks_truncated=BOOL,
        checks=_obj(name=KW, conclusion=KW, completed_at=DATE),
        signature=_obj(status=KW, signer=KW, key=KW, fingerprint=KW, matches_committer=BOOL,
                       signed=BOOL, verified=BOOL, reason=KW),
        pull_request=_obj(number=LONG, url=KW, title=TEXT, author=KW, merged_by=KW,
                          merged_at=DATE, head_sha=KW, head_ref=KW, merge_sha=KW, base=KW,
                          commit_authors=KW, commit_authors_truncated=BOOL, last_pusher=KW, last_pusher_source=KW,
                          last_pusher_fallback=KW, last_push=_obj(type=KW, at=DATE, before=KW),
                          approvals_required=LONG, body=TEXT),
        approval_rules=_obj(status=KW, available=BOOL, reason=KW, satisfied=BOOL,
                            overwritten=BOOL, required_rules=LONG, unmet=KW,
                            rules_truncated=BOOL,
                            independent_approvers=KW,
                            rules=_obj(id=KW, name=KW, rule_type=KW, approvals_required=LONG,
                                       approved=BOOL, approved_by=KW,
                                       approvals=_obj(login=KW, name=KW),
                                       independent_approvers=KW,
                                       eligible_approvers=KW, satisfied=BOOL)),
        review=_obj(id=KW, state=KW, reviewer=KW, commit_id=KW, submitted_at=DATE,
                    self_review=BOOL, association=KW),
        deployment=_obj(id=KW, iid=LONG, status=KW, creator=KW, ref=KW, task=KW,
                        production=BOOL, created_at=DATE, updated_at=DATE, description=TEXT,
                        environment_url=KW, log_url=KW, pipeline_status=KW,
                        pending_approval_count=LONG),
        protection=_obj(day=KW, hash=KW, previous_hash=KW, changed=BOOL,
                        snapshot={"type": "object", "enabled": False},
                        pull_request_required=BOOL, required_approvals=LONG,
                        dismiss_stale_reviews=BOOL, require_last_push_approval=BOOL,
                        required_checks=BOOL, force_push_blocked=BOOL, deletion_blocked=BOOL,
                        signatures_required=BOOL, enforce_admins=BOOL),
        argocd=_obj(app=KW, project=KW, history_id=LONG, deployed_at=DATE,
                    deploy_started_at=DATE, started_at=DATE, finished_at=DATE,
                    initiated_by=_obj(username=KW, automated=BOOL), path=KW,
                    target_revision=KW, revisions=KW, retry_count=LONG, message=TEXT,
                    sync_status=KW, health=KW),
        gap=_obj(after_id=LONG, before_id=LONG, missing=LONG),
        run=_obj(id=KW, actor=KW, triggering_actor=KW, event=KW, url=KW),
        paths=KW, path_changes=KW, paths_count=LONG, paths_truncated=BOOL, forge=KW,
        old_sha=KW, new_sha=KW, old_object=KW, new_object=KW, merge_base=KW, tag=KW,
        annotated=BOOL, target_type=KW, phase=KW, revision=KW,
    ),
    "vcs": {"type": "object", "dynamic": True},
}

FINDINGS: dict[str, Any] = {
    **_COMMON,
    "finding": _obj(
        id=KW, status=KW, rule_type=KW, group_key=KW, group=_obj(), count=LONG,
        window=_obj(start=DATE, end=DATE), first_seen=DATE, last_seen=DATE,
        query={"type": "object", "enabled": False}, sample_ids=KW, suppressed=BOOL,
        exception=KW, history={"type": "object", "enabled": False},
    ),
    "rule": _obj(id=KW, name=KW, version=KW, severity=KW, risk_score=FLOAT, type=KW,
                 description=TEXT, tags=KW),
    "threat": _obj(framework=KW, tactic=_obj(id=KW, name=KW), technique=_obj(id=KW, name=KW)),
    "pci": _obj(requirements=KW),
    "source": _obj(ip=IP, port=LONG),
    "destination": _obj(ip=IP, port=LONG),
}

COMPLIANCE: dict[str, Any] = {
    **_COMMON,
    "control": _obj(id=KW, name=KW, status=KW, requirements=KW, framework=KW,
                    period=_obj(start=DATE, end=DATE), evaluated_at=DATE,
                    evidence={"type": "object", "enabled": False}, counts={"type": "object",
                                                                           "dynamic": True},
                    completeness=FLOAT, reason=TEXT),
}

REPORTS: dict[str, Any] = {
    **_COMMON,
    "report": _obj(id=KW, framework=KW, period=KW, start=DATE, end=DATE, generated_at=DATE,
                   files={"type": "object", "enabled": False}, sha256=KW, score=FLOAT,
                   counts={"type": "object", "dynamic": True}),
}

DEADLETTER: dict[str, Any] = {
    **_COMMON,
    "deadletter": _obj(source=KW, reason=TEXT, raw=STORED_ONLY, raw_base64=STORED_ONLY,
                       target_index=KW, stage=KW, received_at=DATE),
}

STATE: dict[str, Any] = {
    "kind": KW,
    "key": KW,
    "updated_at": DATE,
    "owner": KW,
    "expires_at": DATE,
    "value": {"type": "object", "enabled": False},
}

INVENTORY: dict[str, Any] = {
    **_COMMON,
    "inventory": {"type": "object", "dynamic": True},
}

KIND_MAPPINGS: dict[str, dict[str, Any]] = {
    "events": EVENTS,
    "changes": CHANGES,
    "findings": FINDINGS,
    "compliance": COMPLIANCE,
    "reports": REPORTS,
    "deadletter": DEADLETTER,
    "state": STATE,
    "inventory": INVENTORY,
}

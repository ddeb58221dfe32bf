"""One reconciliation of a firewall policy install against approved changes.

The out-of-band rule (``detect/types/reconcile.py``), control CHK-01 (the compliance check kind
``reconcile``) and the report's change-control section all decide here whether an install or
publish (an ``Install``) is accounted for by an approved change (a ``Change``):

* the change references the install: the install's session name/description names a SHA
  (7-40 hex, a prefix of the change's ``change.sha`` or ``change.pull_request.head_sha``) or a
  ticket the change carries in ``change.tickets`` (``identifiers.references``, one extraction);
  with no such reference, a change deployed by the install's identity within ``window``;
* the change is approved as the normalizer recorded it: a merged pull request with an
  independent approval and passing checks, or a deployment with passing checks;
* the change is in a repository the inventory maps to the install's management server
  (``management_servers[].repos``; no mapping at all binds nothing, an origin the mapping does
  not name may use any mapped repository);
* the change was merged or deployed before the install (``clock_tolerance`` of skew) and not
  more than ``max_change_age`` before it.

``match`` is pure; ``candidate_queries`` builds the searches that fetch the candidate changes
of a set of installs, so every caller fetches the same candidates the same way.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..identifiers import references
from ..model import get_field

__all__ = [
    "CHANGE_FIELDS",
    "INSTALL_TEXT_FIELDS",
    "Change",
    "Install",
    "Policy",
    "Verdict",
    "approved",
    "approved_query",
    "candidate_queries",
    "candidate_query",
    "change_from_source",
    "install_from_source",
    "match",
    "match_all",
    "policy_from_params",
    "repos_by_origin",
    "repos_query",
]

#: where an install keeps what is matched: its session name and description
INSTALL_TEXT_FIELDS = ("checkpoint.session_name", "checkpoint.session_description")
INSTALL_ORIGIN_FIELD = "observer.name"
INSTALL_IDENTITY_FIELD = "user.name"

SHA_FIELDS = ("change.sha", "change.pull_request.head_sha")
TICKET_FIELD = "change.tickets"
REPO_FIELD = "change.repo"
IDENTITY_FIELD = "change.deployment.creator"
#: the change fields a match reads: the ``_source`` of a candidate search
CHANGE_FIELDS = ("@timestamp", "change.kind", "change.repo", "change.sha",
                 "change.pull_request.head_sha", "change.pull_request.number",
                 "change.pull_request.title", "change.pull_request.url", "change.tickets",
                 "change.independent_approval", "change.checks_passed",
                 "change.deployment.creator", "change.deployment.environment",
                 "change.source", "event.dataset", "event.id",
                 # shown by the report's change-control section
                 "change.subject", "change.branch", "change.approvers", "change.environment",
                 "change.deployment.id", "change.deployment.status")

#: candidate changes one search returns; installs are searched in chunks so this bound holds
CANDIDATES = 1000
INSTALLS_PER_SEARCH = 50


@dataclass(frozen=True, slots=True)
class Install:
    """A policy install or publish: when, from which management server, what it names."""

    id: str
    time: datetime
    origin: str | None = None
    shas: tuple[str, ...] = ()
    tickets: tuple[str, ...] = ()
    identity: str | None = None

    @property
    def refs(self) -> tuple[str, ...]:
        return self.shas + self.tickets


@dataclass(frozen=True, slots=True)
class Change:
    """A change record (commit, merged PR, deployment, sync) as the normalizer stored it."""

    id: str
    time: datetime  # merged or deployed
    kind: str | None = None
    repo: str | None = None
    shas: tuple[str, ...] = ()  # change.sha and the pull request's head SHA, lower case
    tickets: tuple[str, ...] = ()
    independent_approval: bool | None = None
    checks_passed: bool | None = None
    identity: str | None = None  # who deployed it (the pipeline identity)


@dataclass(frozen=True, slots=True)
class Policy:
    max_change_age: timedelta = timedelta(days=30)
    clock_tolerance: timedelta = timedelta(minutes=1)
    #: identity fallback: a change deployed by the install's identity this long before it
    window: timedelta = timedelta(hours=2)
    #: management server (its origin: ip or name) → repositories it may install from;
    #: empty: no binding
    repos: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def allowed_repos(self, origin: str | None) -> frozenset[str] | None:
        """The repositories an install from ``origin`` may come from; ``None``: any."""
        if not self.repos:
            return None
        own = self.repos.get(origin or "")
        if own:
            return frozenset(own)
        return frozenset(r for repos in self.repos.values() for r in repos) or None


@dataclass(frozen=True, slots=True)
class Verdict:
    """``matched``: the ids of the changes that account for the install (empty: unmatched);
    ``tier``: ``sha``, ``ticket`` or ``identity``; ``reason``: why not, when unmatched."""

    matched: tuple[str, ...] = ()
    tier: str = ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.matched)


def approved(change: Change) -> bool:
    """Approved and tested as recorded: a merged pull request with an independent approval and
    passing checks, or a deployment with passing checks."""
    if change.kind == "pull_request":
        return bool(change.independent_approval) and bool(change.checks_passed)
    if change.kind == "deployment":
        return bool(change.checks_passed)
    return False


def _tier(install: Install, change: Change) -> str:
    if any(c.startswith(s) for s in install.shas for c in change.shas):
        return "sha"
    if any(t in change.tickets for t in install.tickets):
        return "ticket"
    return ""


def _why_not(install: Install, change: Change, policy: Policy, earliest: datetime) -> str:
    """Why ``change`` does not account for ``install`` (empty: it does)."""
    if not approved(change):
        return f"{change.id} is not an approved, tested change"
    allowed = policy.allowed_repos(install.origin)
    if allowed is not None and change.repo not in allowed:
        return (f"{change.id} is in repository {change.repo or '(none)'}, not one the inventory "
                f"maps to {install.origin or 'the management server'}")
    if change.time > install.time + policy.clock_tolerance:
        return f"{change.id} was merged or deployed after the install"
    if change.time < earliest:
        return f"{change.id} is older than the install by more than the limit"
    return ""


def match(install: Install, candidates: Iterable[Change], policy: Policy) -> Verdict:
    """Whether an approved change accounts for ``install`` (see the module's rules)."""
    changes = list(candidates)
    near: list[str] = []
    if install.refs:
        earliest = install.time - policy.max_change_age
        for tier in ("sha", "ticket"):
            hits = []
            for change in changes:
                if _tier(install, change) != tier:
                    continue
                why = _why_not(install, change, policy, earliest)
                if why:
                    near.append(why)
                else:
                    hits.append(change.id)
            if hits:
                return Verdict(tuple(sorted(hits)), tier)
    if install.identity is not None:
        earliest = install.time - policy.window
        hits = [c.id for c in changes if c.identity == install.identity
                and not _why_not(install, c, policy, earliest)]
        if hits:
            return Verdict(tuple(sorted(hits)), "identity")
    if install.refs:
        reason = "references " + ", ".join(install.refs)
        reason += (": " + "; ".join(dict.fromkeys(near)) if near
                   else " but no approved change carries them")
    else:
        reason = "no SHA or ticket in the session"
    if install.identity is not None:
        reason += f", and no approved change deployed by {install.identity} within {policy.window}"
    return Verdict(reason=reason)


def match_all(installs: Iterable[Install], candidates: Iterable[Change], policy: Policy
              ) -> dict[str, Verdict]:
    changes = list(candidates)
    return {i.id: match(i, changes, policy) for i in installs}


# -- Elasticsearch: the candidate search and the documents it returns ---------------------------

def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _range(start: datetime, end: datetime) -> dict[str, Any]:
    return {"range": {"@timestamp": {"gte": _iso(start), "lte": _iso(end),
                                     "format": "strict_date_optional_time"}}}


def _clause(install: Install, policy: Policy) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    upper = install.time + policy.clock_tolerance
    should: list[dict[str, Any]] = [{"prefix": {f: s}} for s in install.shas for f in SHA_FIELDS]
    if install.tickets:
        should.append({"terms": {TICKET_FIELD: list(install.tickets)}})
    if should:
        out.append({"bool": {"should": should, "minimum_should_match": 1,
                             "filter": [_range(install.time - policy.max_change_age, upper)]}})
    if install.identity is not None:
        out.append({"bool": {"filter": [{"term": {IDENTITY_FIELD: install.identity}},
                                        _range(install.time - policy.window, upper)]}})
    return out


def approved_query() -> dict[str, Any]:
    """``approved`` as a query: what the out-of-band rule's ``reconcile.b``, the compliance
    ``reconcile`` kind (CHK-01, CHK-02) and the report filter candidate changes on (with the
    inventory's repositories, ``repos_query``)."""
    def _all(*terms: tuple[str, Any]) -> dict[str, Any]:
        return {"bool": {"filter": [{"term": {f: v}} for f, v in terms]}}
    return {"bool": {"should": [
        _all(("change.kind", "pull_request"), ("change.independent_approval", True),
             ("change.checks_passed", True)),
        _all(("change.kind", "deployment"), ("change.checks_passed", True))],
        "minimum_should_match": 1}}


def repos_query(policy: Policy) -> dict[str, Any]:
    """The repositories any management server may install from (no binding: everything)."""
    repos = sorted({r for rs in policy.repos.values() for r in rs})
    return {"terms": {REPO_FIELD: repos}} if repos else {"match_all": {}}


def candidate_query(installs: Sequence[Install], policy: Policy,
                    filters: Sequence[dict[str, Any]] = (), size: int = CANDIDATES
                    ) -> dict[str, Any] | None:
    """One search body (on the ``changes`` index kind) returning the candidate changes of
    ``installs``: SHA prefix, ticket or identity, bounded to each install's time limits, ANDed
    with ``filters`` (a caller's approval/repository query), newest first, at most ``size``
    documents with only the fields a match reads; ``None`` when no install can match."""
    should = [c for install in installs for c in _clause(install, policy)]
    if not should:
        return None
    return {"size": size, "track_total_hits": False,
            "query": {"bool": {"filter": list(filters), "should": should,
                               "minimum_should_match": 1}},
            "sort": [{"@timestamp": "desc"}, {"_doc": "asc"}],
            "_source": {"includes": list(CHANGE_FIELDS)}}


def candidate_queries(installs: Sequence[Install], policy: Policy,
                      filters: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """``candidate_query`` per chunk of ``INSTALLS_PER_SEARCH`` installs, so the size bound
    holds for many installs."""
    bodies = [candidate_query(installs[i:i + INSTALLS_PER_SEARCH], policy, filters)
              for i in range(0, len(installs), INSTALLS_PER_SEARCH)]
    return [b for b in bodies if b is not None]



def _time(value: Any) -> datetime:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if v is not None)
    return (str(value),)


def change_from_source(doc_id: str, source: Mapping[str, Any]) -> Change:
    """A ``Change`` from a change document's ``_source``."""
    shas = tuple(dict.fromkeys(s.lower() for f in SHA_FIELDS for s in _strings(get_field(source, f))))
    identity = get_field(source, IDENTITY_FIELD)
    repo = get_field(source, REPO_FIELD)
    kind = get_field(source, "change.kind")
    return Change(id=doc_id, time=_time(get_field(source, "@timestamp")),
                  kind=None if kind is None else str(kind),
                  repo=None if repo is None else str(repo), shas=shas,
                  tickets=_strings(get_field(source, TICKET_FIELD)),
                  independent_approval=get_field(source, "change.independent_approval"),
                  checks_passed=get_field(source, "change.checks_passed"),
                  identity=None if identity is None else str(identity))


def install_from_source(doc_id: str, source: Mapping[str, Any],
                        text_fields: Sequence[str] = INSTALL_TEXT_FIELDS,
                        identity_field: str | None = INSTALL_IDENTITY_FIELD,
                        origin_field: str = INSTALL_ORIGIN_FIELD) -> Install:
    """An ``Install`` from an audit event's ``_source`` (or a flat ``{field: value}``)."""
    texts = [str(v) for f in text_fields if (v := get_field(source, f)) is not None]
    shas, tickets = references(texts)
    origin = get_field(source, origin_field)
    identity = get_field(source, identity_field) if identity_field else None
    return Install(id=doc_id, time=_time(get_field(source, "@timestamp")),
                   origin=None if origin is None else str(origin), shas=tuple(shas),
                   tickets=tuple(tickets), identity=None if identity is None else str(identity))


def repos_by_origin(params: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The inventory's binding (``Inventory.params()['change_repos_by_origin']``)."""
    raw = params.get("change_repos_by_origin") or {}
    return {str(k): tuple(str(r) for r in v) for k, v in raw.items() if v}


def policy_from_params(params: Mapping[str, Any], *, max_change_age: timedelta | None = None,
                       window: timedelta | None = None) -> Policy:
    base = Policy()
    return Policy(max_change_age=max_change_age or base.max_change_age,
                  window=window or base.window, repos=repos_by_origin(params))

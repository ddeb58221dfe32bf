"""Rule file schema: typed, frozen models with precise, collected errors.

A rule file is one YAML mapping. Common metadata (shared with compliance controls, which reuse
:class:`RuleMeta` and :func:`issues_from_validation`)::

    id: 3f0c...-uuid            # stable UUID, never reused
    name: Port scan from one source
    description: ...
    version: 1
    status: stable | test | experimental
    severity: low | medium | high | critical
    risk_score: 0..100          # must fall in the band of the severity (see RISK_BANDS)
    threat: [{tactic: TA0043, techniques: [T1046]}]
    pci_dss_v4_0_1: ["1.4.2", "11.5.1"]
    note: |                     # markdown triage guide
      ## Triage ...
    references: [https://...]
    tags: [checkpoint, network]

Threat-rule part::

    type: match | threshold | cardinality | new_terms | flatline | spike | sequence | reconcile
    index: events | changes     # which kind of index the query reads
    query: 'event.action:Drop'  # Lucene (query_string), or
    query_dsl: {term: {...}}    # raw Query DSL (exactly one of the two)
    group_by: [source.ip]
    schedule: {interval: 5m, lookback: 15m, delay: 1m}
    suppress: {window: 1h}      # one finding per group key per window bucket
    <type>: {...}               # the parameters block named after the type

Errors: :class:`RuleIssue` (file, rule id, field path, expected, got). ``parse_rule`` gathers
every problem of a file and raises :class:`RuleValidationError` carrying all of them.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import RuleIssue, RuleValidationError
from ..issues import issues_from_validation
from ..model import Severity

__all__ = [
    "RISK_BANDS",
    "RULE_TYPES",
    "Calendar",
    "Duration",
    "Rule",
    "RuleIssue",
    "RuleMeta",
    "RuleValidationError",
    "Schedule",
    "Suppress",
    "ThreatMapping",
    "Window",
    "issues_from_validation",
    "parse_duration",
    "parse_rule",
]

RULE_TYPES = ("match", "threshold", "cardinality", "new_terms", "flatline", "spike", "sequence",
              "reconcile")
#: severity → inclusive risk-score band (Elastic's convention)
RISK_BANDS: dict[str, tuple[int, int]] = {
    "low": (0, 21), "medium": (22, 47), "high": (48, 73), "critical": (74, 100),
}

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_FIELD = re.compile(r"^[A-Za-z@_][A-Za-z0-9_@.\-]*$")


def parse_duration(value: Any) -> timedelta:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"14d"`` (or a number of seconds) → timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration like 5m, 1h or 14d")
    if isinstance(value, (int, float)) and value >= 0:
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match:
            return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    raise ValueError("a duration like 5m, 1h or 14d")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("a positive duration")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
FieldName = Annotated[str, Field(pattern=_FIELD.pattern, max_length=200)]
#: a whole clause taken from the inventory (a ready-made query such as insecure_services_query)
InventoryRef = Annotated[str, Field(pattern=r"^\$inventory\.[a-z_]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ThreatMapping(_Model):
    tactic: str = Field(pattern=r"^TA\d{4}$")
    techniques: tuple[str, ...] = Field(default=(), max_length=20)

    @field_validator("techniques")
    @classmethod
    def _tech(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for tech in value:
            if not re.match(r"^T\d{4}(\.\d{3})?$", tech):
                raise ValueError(f"ATT&CK technique ids like T1110 or T1110.001, not {tech!r}")
        return value


class RuleMeta(_Model):
    """Metadata every rule file carries (threat rules and compliance controls)."""

    id: str
    name: str = Field(min_length=3, max_length=200)
    description: str = Field(min_length=10)
    version: int = Field(ge=1)
    status: Literal["stable", "test", "experimental"]
    severity: Severity
    risk_score: int = Field(ge=0, le=100)
    threat: tuple[ThreatMapping, ...] = ()
    pci_dss_v4_0_1: tuple[str, ...] = ()
    note: str = Field(min_length=20)
    references: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    author: str = ""

    @field_validator("id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        if not _UUID.match(value):
            raise ValueError("a lower-case UUID like 1b4e28ba-2fa1-11d2-883f-0016d3cca427")
        return value

    @field_validator("pci_dss_v4_0_1")
    @classmethod
    def _pci(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for req in value:
            if not re.match(r"^\d{1,2}(\.\d{1,2}){1,3}$", str(req)):
                raise ValueError(f"PCI DSS requirement ids like 10.2.1.2, not {req!r}")
        return value

    @model_validator(mode="after")
    def _band(self) -> RuleMeta:
        low, high = RISK_BANDS[self.severity.value]
        if not low <= self.risk_score <= high:
            raise ValueError(f"risk_score {self.risk_score} outside the {self.severity.value} band "
                             f"{low}..{high}")
        return self

    @property
    def tactics(self) -> tuple[str, ...]:
        return tuple(t.tactic for t in self.threat)

    @property
    def techniques(self) -> tuple[str, ...]:
        return tuple(x for t in self.threat for x in t.techniques)


class Schedule(_Model):
    interval: Duration = timedelta(minutes=5)
    #: how far back a run that has no stored window starts
    lookback: Duration = timedelta(minutes=15)
    #: late-data allowance: a run never searches closer to "now" than this
    delay: Duration = timedelta(minutes=1)


class Window(_Model):
    """One open window: ISO weekdays and an ``HH:MM-HH:MM`` time range."""

    days: tuple[int, ...] = (1, 2, 3, 4, 5)
    hours: str = Field("08:00-18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")

    @field_validator("days")
    @classmethod
    def _days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(d < 1 or d > 7 for d in value):
            raise ValueError("ISO weekdays 1 (Monday) .. 7 (Sunday)")
        return value


class Calendar(Window):
    """Business hours / change windows, evaluated in query DSL as ``@timestamp`` ranges (no
    scripts needed): ``match: outside`` keeps events outside the windows (after-hours admin
    activity, a deployment outside the change window), ``inside`` keeps events inside.

    ``inventory: change_windows`` (or ``business_hours``) takes the windows from the inventory
    when the rule is bound (``bind.py``); ``days``/``hours`` are then ignored. A literal
    calendar is refused by the pack lint for a stable rule: the organisation's calendar is
    inventory data, not rule text."""

    timezone: str = "UTC"
    match: Literal["outside", "inside"] = "outside"
    inventory: Literal["change_windows", "business_hours"] | None = None
    #: the open windows once bound (empty: the single ``days``/``hours`` window)
    windows: tuple[Window, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("an IANA time zone such as UTC or Europe/Rome") from None
        return value

    @property
    def open_windows(self) -> tuple[Window, ...]:
        return self.windows or (Window(days=self.days, hours=self.hours),)


class Suppress(_Model):
    #: one finding per group key and aligned window of this length
    window: Duration | None = None


class Query(_Model):
    """A query in Lucene (``query``) or raw DSL (``query_dsl``): exactly one."""

    query: str | None = None
    query_dsl: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> Query:
        if (self.query is None) == (self.query_dsl is None):
            raise ValueError("exactly one of query (Lucene) or query_dsl (Query DSL)")
        return self


class ThresholdParams(_Model):
    count: int = Field(ge=1)
    window: Duration


class CardinalityParams(_Model):
    field: FieldName
    count: int = Field(ge=2)
    window: Duration
    precision_threshold: int = Field(3000, ge=100, le=40000)


class NewTermsParams(_Model):
    fields: tuple[FieldName, ...] = Field(min_length=1, max_length=3)
    history: Duration


class FlatlineParams(_Model):
    #: silent for at least this long → finding
    window: Duration
    #: groups seen within this history are expected to keep sending
    history: Duration = timedelta(days=1)


class SpikeParams(_Model):
    window: Duration
    reference: Duration
    factor: float = Field(gt=1)
    #: ``up``: current ≥ factor × expected (and ≥ min_count); ``down``: current ≤ expected /
    #: factor (a source or a kind of traffic dropping away); ``both``
    direction: Literal["up", "down", "both"] = "up"
    min_count: int = Field(1, ge=1)
    #: the reference must hold at least this many events to be a reference at all (ElastAlert's
    #: ``threshold_ref``): an empty or near-empty reference makes any count look like a spike
    min_reference: int = Field(1, ge=1)


class Step(Query):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    min_count: int = Field(1, ge=1)
    #: simple field → value(s) condition, expressible in both DSL and EQL; optional alternative
    #: to query/query_dsl (exactly one of the three)
    where: dict[FieldName, Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> Step:
        given = [x is not None for x in (self.query, self.query_dsl, self.where)]
        if sum(given) != 1:
            raise ValueError("exactly one of query, query_dsl or where per step")
        return self


class SequenceParams(_Model):
    within: Duration
    steps: tuple[Step, ...] = Field(min_length=2, max_length=5)


class ReconcileSide(Query):
    index: Literal["events", "changes"] = "changes"


class ReconcileParams(_Model):
    """Every event of the rule's query (A) needs a matching B document, judged by the one
    reconciliation CHK-01 and the report use too (``inventory/reconcile.match``):

    1. exact: a SHA (7-40 hex) or ticket (``identifiers.references``) found in
       ``a_text_fields`` is a prefix of the change's SHA (``change.sha`` or its pull request's
       head SHA) or one of its ``change.tickets``;
    2. else fallback: a change deployed by A's ``a_identity_field`` (``change.deployment.creator``)
       within ``window`` before A (``b_identity_field`` switches it on);

    and the change is approved, in a repository the inventory maps to A's management server,
    merged or deployed before A and at most ``max_change_age`` before it. The match reads the
    shared change fields, so ``b_sha_field``/``b_ticket_field``/``b_identity_field`` may only
    name them (a rule that named others would be silently judged on different fields).
    """

    b: ReconcileSide
    a_text_fields: tuple[FieldName, ...] = Field(min_length=1)
    b_sha_field: FieldName = "change.sha"
    b_ticket_field: FieldName = "change.tickets"
    a_identity_field: FieldName | None = None
    b_identity_field: FieldName | None = None
    window: Duration = timedelta(hours=2)
    a_key: FieldName = "event.id"
    #: judge an A event only once every change source (git, GitHub, GitLab, Argo CD cursors)
    #: has synced past its time plus this grace: an approving PR synced minutes after the
    #: install must not make it look out-of-band. Until then the rule's window waits.
    sync_grace: Duration = timedelta(minutes=2)
    #: a change source that has not synced for this long is a finding of its own (and the
    #: installs after it keep waiting, never judged out-of-band on missing data)
    stale_after: Duration = timedelta(hours=1)
    #: an exact (SHA/ticket) match counts only for a change merged or deployed before the A
    #: event (one minute of clock tolerance) and not older than this
    max_change_age: Duration = timedelta(days=30)
    #: management server (origin) → the repositories its installs may come from: set from the
    #: inventory (``management_servers[].repos``) when the rule is bound; empty: no binding
    repos_by_origin: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shared_fields(self) -> ReconcileParams:
        shared = {"b_sha_field": ("change.sha",), "b_ticket_field": ("change.tickets",),
                  "b_identity_field": (None, "change.deployment.creator")}
        for name, allowed in shared.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: the shared reconciliation reads "
                                 f"{' / '.join(a for a in allowed if a)} only")
        return self


class Rule(RuleMeta):
    """A threat rule. Frozen: runtime state lives in ``StateStore``, never on the rule."""

    type: Literal["match", "threshold", "cardinality", "new_terms", "flatline", "spike",
                  "sequence", "reconcile"]
    index: Literal["events", "changes"] = "events"
    query: str | None = None
    query_dsl: dict[str, Any] | None = None
    #: more Query DSL clauses, ANDed with the query; like ``query_dsl`` they may name inventory
    #: sets as ``$inventory.<key>`` (``{terms: {destination.ip: $inventory.cde_networks}}``),
    #: expanded into the clause when the rule is bound to an inventory (never into text)
    filters: tuple[dict[str, Any] | InventoryRef, ...] = ()
    #: ``$inventory`` keys the rule can do without (an exclusion list that may be empty)
    optional_inventory: tuple[str, ...] = ()
    group_by: tuple[FieldName, ...] = Field(default=(), max_length=4)
    schedule: Schedule = Schedule()
    suppress: Suppress = Suppress()
    calendar: Calendar | None = None
    enabled: bool = True
    #: findings one evaluated segment may produce; more is a flood (a noisy rule or hostile
    #: traffic): the first ones are kept, each marked ``extra.truncated``, and the run says so,
    #: so memory and the findings index stay bounded (Elastic's ``max_signals``, per segment)
    max_findings: int = Field(default=1000, ge=1, le=100_000)
    threshold: ThresholdParams | None = None
    cardinality: CardinalityParams | None = None
    new_terms: NewTermsParams | None = None
    flatline: FlatlineParams | None = None
    spike: SpikeParams | None = None
    sequence: SequenceParams | None = None
    reconcile: ReconcileParams | None = None
    #: provenance of imported rules (e.g. the Sigma rule id)
    source: dict[str, str] = Field(default_factory=dict)
    #: set by ``bind.py`` (never in a file): the digest of the inventory the rule was bound to
    bound_inventory: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _shape(self) -> Rule:
        if self.type != "sequence" and (self.query is None) == (self.query_dsl is None):
            raise ValueError("exactly one of query (Lucene) or query_dsl (Query DSL)")
        for other in RULE_TYPES:
            block = getattr(self, other, None)
            if other == self.type and block is None and other != "match":
                raise ValueError(f"type {self.type} needs a '{self.type}:' parameters block")
            if other != self.type and block is not None:
                raise ValueError(f"'{other}:' block given but type is {self.type}")
        if self.bound_inventory is not None:
            raise ValueError("bound_inventory is set when a rule is bound, not in its file")
        if self.type in ("flatline",) and not self.group_by:
            raise ValueError("flatline needs group_by (the sources that must keep sending)")
        return self

    @property
    def window(self) -> timedelta:
        """The look-behind a sliding check needs before a run's start."""
        params = getattr(self, self.type, None)
        for name in ("window", "within"):
            value = getattr(params, name, None)
            if isinstance(value, timedelta):
                return value
        return timedelta(0)

    @property
    def suppress_window(self) -> timedelta:
        """Aligned bucket that makes a finding id: explicit, else max(window, interval, 1h)."""
        if self.suppress.window:
            return self.suppress.window
        return max(self.window, self.schedule.interval, timedelta(hours=1))


def parse_rule(data: Any, file: str = "<rule>") -> Rule:
    """Validate one rule mapping; raise :class:`RuleValidationError` with every issue."""
    if not isinstance(data, dict):
        raise RuleValidationError([RuleIssue(file, "", "", "a mapping at the top level",
                                             type(data).__name__)])
    rule_id = str(data.get("id", ""))
    try:
        return Rule.model_validate(data)
    except ValidationError as exc:
        raise RuleValidationError(issues_from_validation(exc, file, rule_id)) from None

"""How the daemon runs: the rules and retention jobs' schedules, its own HTTP endpoint, the
HA lease, shutdown and pidfile, and logging."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from .common import Schedule, _Model
from .secret_refs import _resolve_secrets

FastLaneType = Literal["match", "threshold", "cardinality", "sequence"]
FAST_LANE_TYPES: tuple[FastLaneType, ...] = ("match", "threshold", "cardinality", "sequence")


class FastLane(_Model):
    """Seconds, not minutes, for rule types whose incremental run is cheap.

    A match/threshold/cardinality/sequence rule searches only what arrived since its last
    window (one aggregation over seconds of data, ~ms), so running it every ``interval_seconds``
    costs little; its own longer interval and delay are shortened to these. Its window
    semantics and exactly-once findings are unchanged (same engine, smaller steps). Reads are
    refresh-aware: a run reads no further than the oldest line a receiver of this instance has
    taken in but not yet made searchable, so the delay only covers lateness before the receiver.
    A line older than the delay when it reaches us (API pulls, file pickup, another instance's
    backlog) is judged by the engine's ingest-time cursor (event.ingested), once. Only rules
    over ``events`` are shortened (git/forge changes arrive per sync: nothing to gain).
    """

    enabled: bool = True
    types: list[FastLaneType] = Field(default_factory=lambda: list(FAST_LANE_TYPES))
    interval_seconds: float = Field(10.0, gt=0)
    delay_seconds: float = Field(5.0, ge=0)


class RulesSettings(_Model):
    #: folders of rule files; empty means the packs bundled with the monitor
    dirs: list[Path] = Field(default_factory=list)
    exceptions_file: Path | None = None
    inventory_file: Path | None = None
    #: the rules job's tick: each run evaluates only the rules whose next window is due
    schedule: Schedule = Schedule(interval_seconds=10)
    fast_lane: FastLane = FastLane()
    compliance_schedule: Schedule = Schedule(interval_seconds=3600)
    max_backfill_segment_seconds: float = Field(3600.0, gt=0)


class BasicAuth(_Model):
    username: str
    password: SecretStr

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _resolve_secrets(data, ("password",))


class HttpSettings(_Model):
    """The daemon's own endpoint: /metrics, /healthz, /readyz."""

    listen: str = "127.0.0.1:9464"
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    basic_auth: BasicAuth | None = None
    #: host names a POST (reload) may be addressed to, besides the listen address and loopback
    #: names: anything else in the Host header is refused (DNS rebinding)
    allowed_hosts: list[str] = Field(default_factory=list)


class RetentionSettings(_Model):
    #: PCI DSS 10.5.1: twelve months, three immediately available; default keeps 13 months
    events_months: int = Field(13, ge=12)
    changes_months: int = Field(13, ge=12)
    findings_months: int = Field(13, ge=12)
    schedule: Schedule = Schedule(interval_seconds=86400)


class HaSettings(_Model):
    instance_id: str | None = None  # default: hostname-pid
    lease_seconds: float = Field(15.0, ge=3)
    renew_seconds: float = Field(5.0, gt=0)
    #: state document that elects the active instance (pull sources, rules, reports)
    lease_name: str = Field("lease-active", pattern=r"^[A-Za-z0-9_.:-]+$")

    @model_validator(mode="after")
    def _renew_before_expiry(self) -> HaSettings:
        if self.renew_seconds * 2 > self.lease_seconds:
            raise ValueError("renew_seconds must be at most half of lease_seconds, or the "
                             "active instance may lose its lease between two renewals")
        return self


class DaemonSettings(_Model):
    """``monitor run``: shutdown bound, pidfile, and thresholds exported for alert rules."""

    pidfile: Path | None = None
    #: after SIGTERM, how long running jobs may take to finish before they are cancelled
    shutdown_timeout_seconds: float = Field(20.0, gt=0, le=600)
    #: how often values read from Elasticsearch (open findings, compliance, reports) refresh
    stats_interval_seconds: float = Field(15.0, gt=0)
    #: a source with no event for this long is "silent" (exported for the SourceSilent alert)
    source_silent_after_seconds: float = Field(900.0, gt=0)
    #: a start is refused unless Elasticsearch answers within this time
    startup_timeout_seconds: float = Field(30.0, gt=0)


class LoggingSettings(_Model):
    format: Literal["json", "logfmt"] = "logfmt"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

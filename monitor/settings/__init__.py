"""Typed settings, loaded once from YAML. All defaults live in this package.

Secrets are ``SecretStr`` (never shown by ``repr`` or logs) and may be given inline, from a file
(``<name>_file``) or from an environment variable (``<name>_env``). Unknown keys are errors: a
typo must not silently disable a control. ``load_settings`` reports every problem with the
file, the dotted field path and what was expected.

One module per part of the file, read next to ``config.example.yaml``: ``elasticsearch``,
``sources``, ``outputs`` (reports, alerting, Kibana) and ``runtime`` (rules and retention
schedules, HTTP endpoint, HA, daemon, logging); ``common`` holds what they share,
``secret_refs`` turns ``*_file``/``*_env`` into secrets, and ``loading`` has the top-level
``Settings``, path resolution and the loader. Import from here, not from the modules.
"""
from __future__ import annotations

from .common import Schedule, ServerTls, TlsClient
from .elasticsearch import BulkSettings, ElasticsearchSettings, EventTimeSettings
from .loading import Settings, load_settings, settings_from_dict
from .outputs import (
    AlertingSettings,
    AlertmanagerTarget,
    AlertQueueSettings,
    KibanaSettings,
    ReportDeliverySettings,
    ReportKind,
    ReportsSettings,
    SmtpSettings,
    WebhookTarget,
)
from .runtime import (
    FAST_LANE_TYPES,
    BasicAuth,
    DaemonSettings,
    FastLane,
    FastLaneType,
    HaSettings,
    HttpSettings,
    LoggingSettings,
    RetentionSettings,
    RulesSettings,
)
from .secret_refs import UnresolvedSecret, unresolved_secrets
from .sources import (
    ArgoCdSource,
    CheckpointApiSource,
    FileSource,
    GithubSource,
    GitlabSource,
    GitRepoSource,
    Sources,
    SpoolSettings,
    SyslogSource,
    SyslogTls,
)

__all__ = [
    "Settings", "ElasticsearchSettings", "CheckpointApiSource", "SyslogSource", "GitRepoSource",
    "GithubSource", "GitlabSource", "ArgoCdSource", "load_settings", "settings_from_dict",
    "DaemonSettings", "HaSettings", "HttpSettings", "LoggingSettings", "AlertingSettings",
    "KibanaSettings", "UnresolvedSecret", "unresolved_secrets",
    # the section models imported by name elsewhere (public before the split into modules)
    "TlsClient", "ServerTls", "Schedule", "BulkSettings", "EventTimeSettings", "Sources", "SpoolSettings",
    "SyslogTls", "FileSource", "FastLane", "FastLaneType", "FAST_LANE_TYPES", "RulesSettings",
    "BasicAuth", "RetentionSettings", "ReportKind", "ReportsSettings", "AlertmanagerTarget",
    "WebhookTarget", "AlertQueueSettings", "SmtpSettings", "ReportDeliverySettings",
]

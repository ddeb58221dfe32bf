"""The settings file as a whole (``Settings``) and how it is loaded: YAML read safely, every
relative path resolved once against the file's folder, every problem reported with the file,
the dotted field path, its line and what was expected."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from ..errors import ConfigError, ConfigIssue
from ..redact import is_secret_key, redact
from ..yamlio import YamlError, load_yaml, locate
from .common import _Model
from .elasticsearch import ElasticsearchSettings
from .outputs import AlertingSettings, KibanaSettings, ReportsSettings
from .runtime import (
    DaemonSettings,
    HaSettings,
    HttpSettings,
    LoggingSettings,
    RetentionSettings,
    RulesSettings,
)
from .secret_refs import _SECRET_BASE, unresolved_secrets
from .sources import Sources


class Settings(_Model):
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    sources: Sources = Sources()
    rules: RulesSettings = RulesSettings()
    http: HttpSettings = HttpSettings()
    reports: ReportsSettings = ReportsSettings()
    retention: RetentionSettings = RetentionSettings()
    ha: HaSettings = HaSettings()
    daemon: DaemonSettings = DaemonSettings()
    logging: LoggingSettings = LoggingSettings()
    alerting: AlertingSettings = AlertingSettings()
    kibana: KibanaSettings = KibanaSettings()
    #: where relative paths in this file are resolved (the file's folder); set by the loader
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _paths_from_base_dir(self) -> Settings:
        """Every relative path of the file, resolved once against ``base_dir``: the daemon, the
        CLI and the reports then read the same files whatever the working directory."""
        resolved = _resolve_paths(self, self.base_dir)
        assert isinstance(resolved, Settings)
        return resolved


def _resolve_paths(model: BaseModel, base: Path) -> BaseModel:
    """A copy of ``model`` whose relative ``Path`` values (also in lists and nested models, and
    the ``path_strings`` a model names) are joined to ``base``."""
    def one(value: Any) -> Any:
        if isinstance(value, Path):
            return value if value.is_absolute() else base / value
        if isinstance(value, BaseModel):
            return _resolve_paths(value, base)
        if isinstance(value, list):
            return [one(item) for item in value]
        if isinstance(value, dict):
            return {key: one(item) for key, item in value.items()}
        return value

    strings = getattr(type(model), "path_strings", ())
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        if name == "base_dir":
            continue
        value = getattr(model, name)
        if name in strings:
            new = [p if Path(p).is_absolute() else str(base / p) for p in value]
        else:
            new = one(value)
        if new is not value and new != value:
            update[name] = new
    return model.model_copy(update=update) if update else model


def _issue_from_error(file: str, error: Mapping[str, Any]) -> ConfigIssue:
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if error["type"] == "extra_forbidden":
        message = "unknown setting (check spelling; see config.example.yaml)"
    got = error.get("input")
    shown = "" if isinstance(got, (dict, list)) or error["type"] == "missing" else repr(got)
    # a mistyped secret key (``pasword:``) is unknown to the model, so its value would be shown:
    # any secret-looking part of the path hides it, and the text itself is redacted
    if shown and any(is_secret_key(str(part)) for part in error["loc"]):
        shown = "<redacted>"
    return ConfigIssue(file=file, field=field, expected=redact(message), got=redact(shown)[:80])


def _placed(issue: ConfigIssue, loc: tuple[int | str, ...]) -> ConfigIssue:
    """The issue with the line and column of its field, when it comes from a file."""
    found = locate(issue.file, loc) if Path(issue.file).is_file() else None
    return dataclasses.replace(issue, line=found[0], column=found[1]) if found else issue


def settings_from_dict(data: Any, source: str = "<dict>", base_dir: Path | None = None) -> Settings:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(source, "(top level)", "a mapping of settings",
                                       type(data).__name__)])
    token = _SECRET_BASE.set(base_dir)
    try:
        settings = Settings.model_validate({**data, "base_dir": base_dir or Path(".")})
    except ValidationError as exc:
        raise ConfigError([_placed(_issue_from_error(source, err), err["loc"])
                           for err in exc.errors()]) from None
    finally:
        _SECRET_BASE.reset(token)
    for field, secret in unresolved_secrets(settings):
        secret.setting, secret.file = field, source
    return settings


def load_settings(path: str | Path) -> Settings:
    """Load and validate a settings file; raise ``ConfigError`` naming every bad field."""
    path = Path(path)
    try:
        data = load_yaml(path)
    except YamlError as exc:
        raise ConfigError([ConfigIssue(str(path), "(file)", redact(str(exc).split(": ", 1)[-1]),
                                       line=exc.line, column=exc.column)]) from None
    return settings_from_dict(data, str(path), path.resolve().parent)

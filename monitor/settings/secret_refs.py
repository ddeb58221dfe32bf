"""Secrets given by reference: ``<name>_file`` (read, relative to the settings file's folder)
and ``<name>_env`` (an environment variable) become ``<name>`` before a model validates them.

A missing file or variable is not a load error (a command that never uses that source still
runs): the value is an ``UnresolvedSecret`` that fails when read and that ``config check``
lists.
"""
from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from ..errors import ConfigError, ConfigIssue


class UnresolvedSecret(SecretStr):
    """A secret whose ``*_env`` variable is unset or whose ``*_file`` cannot be read.

    Loading does not fail on it, so a command that never uses that source (``rules list`` with
    a GitHub token unset) still runs; reading it raises ``ConfigError`` naming the setting, and
    ``config check`` lists every one (``unresolved_secrets``).
    """

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__("")
        #: ``file`` and the full field path are filled in once the whole file is validated
        self.setting, self.problem, self.file = setting, problem, "(settings)"

    def get_secret_value(self) -> str:
        raise ConfigError([ConfigIssue(self.file, self.setting, self.problem)])


#: the settings file's folder while it is validated (secret files are read during validation)
_SECRET_BASE: ContextVar[Path | None] = ContextVar("secret_base", default=None)


def _resolve_secrets(data: Any, names: tuple[str, ...]) -> Any:
    """Turn ``x_file`` / ``x_env`` into ``x`` before validation; the value is then a SecretStr
    (an ``UnresolvedSecret`` when the variable or file is missing: an error only when used)."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for name in names:
        file_key, env_key = f"{name}_file", f"{name}_env"
        if file_key in data:
            path = Path(str(data.pop(file_key)))
            base = _SECRET_BASE.get()
            if base is not None and not path.is_absolute():
                path = base / path  # like every path of the file: from the file's folder
            try:
                data[name] = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                data[name] = UnresolvedSecret(
                    file_key, f"cannot read secret file {path}: {exc.strerror}")
        if env_key in data:
            var = str(data.pop(env_key))
            data[name] = os.environ[var] if var in os.environ else UnresolvedSecret(
                env_key, f"environment variable {var} is not set")
    return data


def unresolved_secrets(settings: BaseModel, path: str = "") -> list[tuple[str, UnresolvedSecret]]:
    """Every ``UnresolvedSecret`` in a settings tree, with its field path (for ``config check``)."""
    found: list[tuple[str, UnresolvedSecret]] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, UnresolvedSecret):
            found.append((f"{path}.{value.setting}" if path and "." not in value.setting
                          else value.setting, value))
            continue
        where = f"{path}.{name}" if path else name
        items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
        for index, item in items:
            if isinstance(item, BaseModel):
                found.extend(unresolved_secrets(item, where if index is None else f"{where}.{index}"))
    return found

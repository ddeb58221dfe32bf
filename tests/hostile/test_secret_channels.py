"""A settings file full of the mistakes people make with secrets, fed to every output channel:
``config check`` (text and JSON), a refused start, the daemon's log, a refused reload and the
unauthenticated ``/readyz``. No channel may show any of the secrets."""
from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from daemon.procs import ROOT, MonitorProcess, base_config, http_get, wait_for

from monitor.errors import ConfigError
from monitor.settings import settings_from_dict

SECRETS = {name: f"{name}-{uuid.uuid4().hex[:10]}" for name in
           ("PASWORD", "APIKEY", "URLTOKEN", "TOKNE", "SSHPW", "PASSWRD", "SECERT")}


def _mistakes(es_url: str, prefix: str) -> dict[str, Any]:
    s = SECRETS
    return {
        "elasticsearch": {"hosts": [es_url], "index_prefix": prefix,
                          "pasword": s["PASWORD"], "apikey": s["APIKEY"]},
        "sources": {
            "github": [{"name": "gh", "repositories": ["a/b"], "tokne": s["TOKNE"],
                        "base_url": f"https://{s['URLTOKEN']}@github.example.com"}],
            "git": [{"name": "r", "url": f"ssh://deploy:{s['SSHPW']}@git.example.com/r.git"}],
        },
        "http": {"basic_auth": {"username": "ops", "passwrd": s["PASSWRD"]}},
        "alerting_secert": s["SECERT"],
    }


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli.main", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, check=False)


def test_config_check_and_refused_start_show_no_secret(tmp_path: Path, es_url: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(_mistakes(es_url, "t-x")))
    for args in (("config", "check"), ("config", "check", "--json"), ("run",)):
        done = _cli("-c", str(config), *args)
        assert done.returncode == 2, (args, done.stdout[-500:], done.stderr[-500:])
        output = done.stdout + done.stderr
        assert not _leaks(output), (args, _leaks(output), output)
        assert "pasword" in output and "tokne" in output  # each mistake is still named


def test_plaintext_credentials_to_remote_elasticsearch_are_refused() -> None:
    remote = {"hosts": ["http://es.example.com:9200"], "username": "u", "password": "p-123456"}
    with pytest.raises(ConfigError, match="clear text"):
        settings_from_dict({"elasticsearch": remote})
    assert settings_from_dict({"elasticsearch": {**remote, "allow_plaintext_credentials": True}})
    local = {**remote, "hosts": ["http://127.0.0.1:9200"]}
    assert settings_from_dict({"elasticsearch": local})  # loopback: nothing on the wire
    with pytest.raises(ConfigError, match="clear text"):
        settings_from_dict({"elasticsearch": {"hosts": ["http://10.1.2.3:9200"],
                                              "api_key": "k-123456"}})


def test_refused_reload_log_and_readyz_show_no_secret(tmp_path: Path, es_url: str) -> None:
    prefix = f"t-s{uuid.uuid4().hex[:8]}"
    proc = MonitorProcess(tmp_path, "secrets", base_config(es_url, prefix)).start()
    try:
        proc.wait_ready()
        good = yaml.safe_load(proc.config_path.read_text())
        bad = _mistakes(es_url, prefix)
        bad["http"] = {**good["http"], **bad["http"]}
        bad.update({k: v for k, v in good.items() if k not in bad})
        proc.config_path.write_text(yaml.safe_dump(bad))
        proc.signal(signal.SIGHUP)
        wait_for(lambda: proc.metric("monitor_config_reloads_total", outcome="error") == 1,
                 60, "the reload to be refused", on_fail=proc.tail)
        status, body = http_get(f"{proc.url}/readyz")
        ready = body.decode()
        assert "pasword" in ready, ready  # the refusal is there, and says where
        assert not _leaks(ready), ready
        assert not _leaks(proc.log()), proc.tail()
    finally:
        proc.stop()
        with httpx.Client(base_url=es_url, timeout=60) as client:
            client.delete(f"/{prefix}-*", params={"ignore_unavailable": "true",
                                                  "allow_no_indices": "true",
                                                  "expand_wildcards": "all"})
            client.delete(f"/_index_template/{prefix}-*")
    assert not _leaks(proc.log())

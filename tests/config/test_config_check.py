"""`monitor config check` names the file, the field and what was expected, and exits 2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def _check(path: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor.cli.main", "--config", str(path),
                           "config", "check", *extra], capture_output=True, text=True,
                          env=env, check=False)


BROKEN = {
    "unknown_key": ("elasticsearch:\n  hostz: [http://x:9200]\n", "elasticsearch.hostz",
                    "unknown setting"),
    "wrong_type": ("elasticsearch:\n  bulk:\n    chunk_docs: many\n",
                   "elasticsearch.bulk.chunk_docs", "valid integer"),
    "bad_scheme": ("sources:\n  git:\n    - name: repo\n      url: file:///etc\n",
                   "sources.git.0.url", "https://, ssh://"),
    "missing_required": ("sources:\n  checkpoint_api:\n    - name: m1\n", "sources.checkpoint_api.0.url",
                         "Field required"),
    "duplicate_key": ("logging:\n  level: INFO\n  level: DEBUG\n", "(file)", "duplicate key 'level'"),
    "bad_cidr": ("sources:\n  syslog:\n    allowed_senders: [10.0.0.0/33]\n",
                 "sources.syslog.allowed_senders", "does not appear to be an IPv4 or IPv6 network"),
    # a pin where the client cannot pin would read as protection and be none
    "pin_not_supported": ("sources:\n  github:\n    - name: gh\n      base_url: https://api.github.com\n"
                          "      tls: {fingerprint_sha256: 'ab:cd'}\n",
                          "sources.github.0.tls.fingerprint_sha256", "pinning is supported for"),
    "verify_off_with_ca": ("elasticsearch:\n  tls: {verify: false, ca_file: /etc/ssl/ca.pem}\n",
                           "elasticsearch.tls", "verify: false contradicts"),
    "secret_in_url": ("elasticsearch:\n  hosts: ['https://admin:hunter2@es:9200']\n",
                      "elasticsearch.hosts", "credentials in a host URL"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_config_names_file_and_field(tmp_path, case):
    text, field, expected = BROKEN[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    result = _check(path)
    assert result.returncode == 2, result.stderr
    out = result.stdout + result.stderr
    assert str(path) in out and field in out and expected in out, out
    assert "hunter2" not in out  # secrets never echoed back


def test_json_output_lists_issues(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("http:\n  listen: 1\nreports:\n  keep: 0\n")
    result = _check(path, "--json")
    assert result.returncode == 2
    issues = json.loads(result.stdout)["issues"]
    assert {i["field"] for i in issues} >= {"http.listen", "reports.keep"}


def test_example_config_is_valid():
    result = _check(ROOT / "config.example.yaml")
    assert result.returncode == 0, result.stderr


def test_secrets_from_file_and_env_never_in_repr(tmp_path, monkeypatch):
    secret_file = tmp_path / "pw"
    secret_file.write_text("s3cr3t-from-file\n")
    monkeypatch.setenv("TEST_ES_KEY", "s3cr3t-from-env")
    path = tmp_path / "c.yaml"
    path.write_text(f"elasticsearch:\n  username: u\n  password_file: {secret_file}\n"
                    "sources:\n  github:\n    - name: gh\n      repositories: [a/b]\n"
                    "      token_env: TEST_ES_KEY\n")
    settings = load_settings(path)
    assert settings.elasticsearch.password.get_secret_value() == "s3cr3t-from-file"
    assert settings.sources.github[0].token.get_secret_value() == "s3cr3t-from-env"
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(settings)


def test_missing_secret_env_is_named_where_it_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text("elasticsearch:\n  username: u\n  password_env: NOPE_NOT_SET\n")
    settings = load_settings(path)  # loading does not need the secret
    with pytest.raises(ConfigError) as info:
        settings.elasticsearch.password.get_secret_value()
    assert "NOPE_NOT_SET is not set" in str(info.value)
    assert "elasticsearch.password_env" in str(info.value) and str(path) in str(info.value)


def test_unused_unset_secret_does_not_stop_a_command_but_config_check_names_it(
        tmp_path, monkeypatch):
    monkeypatch.delenv("GH_TOKEN_UNSET", raising=False)
    monkeypatch.delenv("GL_TOKEN_UNSET", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text("sources:\n  github:\n    - name: gh\n      repositories: [a/b]\n"
                    "      token_env: GH_TOKEN_UNSET\n"
                    "  gitlab:\n    - name: gl\n      base_url: https://gitlab.example\n"
                    "      projects: [a/b]\n      token_file: /nonexistent/token\n")
    listed = subprocess.run([sys.executable, "-m", "monitor.cli.main", "--config", str(path),
                             "rules", "list"], capture_output=True, text=True, check=False)
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) >= 10  # the bundled pack, listed
    checked = _check(path, "--json")
    assert checked.returncode == 2
    fields = {i["field"]: i["expected"] for i in json.loads(checked.stdout)["issues"]}
    assert "GH_TOKEN_UNSET is not set" in fields["sources.github.0.token_env"]
    assert "cannot read secret file" in fields["sources.gitlab.0.token_file"]


def test_config_file_missing_is_clear(tmp_path):
    result = _check(tmp_path / "absent.yaml")
    assert result.returncode == 2 and "cannot read" in result.stdout + result.stderr

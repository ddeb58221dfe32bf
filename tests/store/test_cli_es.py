"""`monitor es setup|check` against the real Elasticsearch, through the CLI."""
from __future__ import annotations

import json
import subprocess
import sys


def _monitor(config, *args):
    return subprocess.run([sys.executable, "-m", "monitor.cli.main", "--config", str(config),
                           *args], capture_output=True, text=True, check=False)


def test_es_setup_then_check(tmp_path, es_url, es_prefix):
    config = tmp_path / "c.yaml"
    config.write_text(f"elasticsearch:\n  hosts: ['{es_url}']\n  index_prefix: {es_prefix}\n")
    before = _monitor(config, "es", "check", "--json")
    assert before.returncode == 1  # templates missing
    assert set(json.loads(before.stdout)["templates"].values()) == {"missing"}
    setup = _monitor(config, "es", "setup", "--json")
    assert setup.returncode == 0 and set(json.loads(setup.stdout).values()) == {"created"}
    again = _monitor(config, "es", "setup", "--json")
    assert set(json.loads(again.stdout).values()) == {"unchanged"}
    after = _monitor(config, "es", "check", "--json")
    assert after.returncode == 0, after.stderr
    report = json.loads(after.stdout)
    assert report["capabilities"]["version"].startswith("9.")
    assert report["status"] in ("green", "yellow")
    cleanup = subprocess.run(["curl", "-s", "-XDELETE", f"{es_url}/{es_prefix}-*"],
                             capture_output=True, check=False)
    subprocess.run(["curl", "-s", "-XDELETE", f"{es_url}/_index_template/{es_prefix}-*"],
                   capture_output=True, check=False)
    assert cleanup.returncode == 0


def test_es_check_unreachable_fails_cleanly(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("elasticsearch:\n  hosts: ['http://127.0.0.1:9']\n"
                      "  request_timeout_seconds: 2\n  username: u\n  password: topsecret\n")
    result = _monitor(config, "es", "check")
    assert result.returncode == 1
    assert "unreachable" in result.stderr and "Traceback" not in result.stderr
    assert "topsecret" not in result.stderr + result.stdout

"""deploy/alertmanager/: the configuration is valid for Debian's Alertmanager 0.25 (``amtool
check-config``), routes as its README says (``amtool config routes test``), and, loaded into a
real Alertmanager, the gateway-silent inhibition and the README's silence example mute what they
should and nothing else."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from .am import free_port, http_get, wait_for

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "alertmanager"
CONFIG = DEPLOY / "alertmanager.yml"


def _amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.fail("amtool not found: install the Debian package prometheus-alertmanager")
    return path


def test_check_config() -> None:
    out = subprocess.run([_amtool(), "check-config", str(CONFIG)], capture_output=True,
                         text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout and "2 inhibit rules" in out.stdout


@pytest.mark.parametrize(("labels", "receivers"), [
    ({"source": "monitor", "kind": "finding", "severity": "critical", "pci": "8.3.4"},
     "pager-webhook,soc-email"),
    ({"source": "monitor", "kind": "finding", "severity": "high", "pci": "1.2.5,1.3.1"},
     "netops-email,soc-email"),
    ({"source": "monitor", "kind": "finding", "severity": "high", "pci": "10.1.2"}, "soc-email"),
    ({"source": "monitor", "kind": "finding", "severity": "low", "pci": "11.4.1"}, "soc-email"),
    ({"source": "monitor", "kind": "control", "severity": "high", "pci": "1.2.5"},
     "compliance-email"),
])
def test_routing_by_severity_pci_and_kind(labels: dict[str, str], receivers: str) -> None:
    out = subprocess.run([_amtool(), "config", "routes", "test", f"--config.file={CONFIG}",
                          f"--verify.receivers={receivers}",
                          *(f"{k}={v}" for k, v in labels.items())],
                         capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def _post(url: str, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(f"{url}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def _states(url: str) -> dict[str, dict[str, Any]]:
    status, body = http_get(f"{url}/api/v2/alerts")
    assert status == 200
    return {a["labels"].get("finding_id", "?"): a["status"] for a in json.loads(body)}


def test_inhibition_and_silence_example_on_a_real_alertmanager(tmp_path: Path) -> None:
    config = yaml.safe_load(CONFIG.read_text())
    # the shipped routes and inhibitions; receivers and secrets pointed at nothing reachable
    config["global"] = {"resolve_timeout": "5m"}
    hook = {"url": "http://127.0.0.1:9/hook", "send_resolved": True}
    config["receivers"] = [{"name": r["name"], "webhook_configs": [hook]}
                           for r in config["receivers"]]
    (tmp_path / "am.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    binary = shutil.which("prometheus-alertmanager")
    assert binary, "prometheus-alertmanager not installed"
    with open(tmp_path / "am.log", "wb") as log:
        proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'am.yml'}",
                                 f"--storage.path={tmp_path / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}",
                                 "--cluster.listen-address="], stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: http_get(f"{url}/-/ready")[0] == 200, 60, "Alertmanager ready")
            base = {"source": "monitor", "kind": "finding", "severity": "high", "pci": "1.2.5"}
            silent_name = "Check Point gateway stopped sending logs"
            _post(url, [
                {"labels": {**base, "alertname": silent_name, "finding_id": "silent-gw1",
                            "rule_id": "r-silent", "observer_name": "gw1"}},
                {"labels": {**base, "alertname": "Spike in dropped connections on a gateway",
                            "finding_id": "spike-gw1", "rule_id": "r-spike",
                            "observer_name": "gw1"}},
                {"labels": {**base, "alertname": "Spike in dropped connections on a gateway",
                            "finding_id": "spike-gw2", "rule_id": "r-spike",
                            "observer_name": "gw2"}},
                {"labels": {**base, "alertname": "Port scan from a single source",
                            "finding_id": "scan-asv", "rule_id": "r-scan",
                            "source_ip": "203.0.113.10"}},
            ])
            readme = (DEPLOY / "README.md").read_text()
            command = next(line for line in readme.splitlines()
                           if line.startswith("amtool silence add "))
            argv = shlex.split(command)
            argv = [_amtool()] + [f"--alertmanager.url={url}" if a.startswith(
                "--alertmanager.url=") else a for a in argv[1:]]
            out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
            assert out.returncode == 0, out.stdout + out.stderr
            assert re.fullmatch(r"[0-9a-f-]{36}\s*", out.stdout), out.stdout  # the silence id

            def settled() -> dict[str, dict[str, Any]] | None:
                states = _states(url)
                return states if states["spike-gw1"]["inhibitedBy"] and \
                    states["scan-asv"]["silencedBy"] else None

            states = wait_for(settled, 30, "inhibition and silence applied")
            assert states["spike-gw1"]["state"] == "suppressed"  # its gateway is silent
            assert states["spike-gw2"]["state"] == "active"      # another gateway: not muted
            assert states["silent-gw1"]["state"] == "active"
            assert states["scan-asv"]["state"] == "suppressed"
            assert not states["spike-gw2"]["silencedBy"]
        finally:
            proc.terminate()
            proc.wait(timeout=30)

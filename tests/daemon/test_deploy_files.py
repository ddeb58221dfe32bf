"""The deploy/ examples are checked by the tools that will read them.

No container engine runs here, so the Dockerfile and compose file cannot be built; what can be
checked offline is: the systemd unit (``systemd-analyze verify`` and its offline security
exposure score), every file the compose stack mounts (the monitor config through our own
validator, Prometheus' through ``promtool``, Alertmanager's through ``amtool``), and that the
Dockerfile copies paths that exist and starts the console script the package declares.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from monitor.yamlio import load_yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install the Debian package `{package}`")
    return path


def _installed_unit(tmp_path: Path) -> Path:
    """The unit as installed: its ExecStart binary must exist for ``verify``."""
    text = (DEPLOY / "systemd" / "monitor.service").read_text()
    unit = tmp_path / "monitor.service"
    unit.write_text(text.replace("/opt/monitor/bin/monitor", str(Path(sys.executable).parent
                                                                  / "monitor")))
    return unit


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = _installed_unit(tmp_path)
    out = subprocess.run([_tool("systemd-analyze", "systemd"), "verify", str(unit)],
                         capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "monitor.service" not in out.stderr, out.stderr  # no warning about our unit


def test_systemd_unit_hardening_exposure_is_low(tmp_path: Path) -> None:
    unit = _installed_unit(tmp_path)
    out = subprocess.run([_tool("systemd-analyze", "systemd"), "security", "--offline=true",
                          "--no-pager", str(unit)],
                         capture_output=True, text=True, check=False, timeout=60)
    match = re.search(r"Overall exposure level for monitor\.service: ([0-9.]+)", out.stdout)
    assert match, out.stdout[-2000:] + out.stderr
    # systemd's scale: 0 = fully locked down, 10 = none; "OK" ends at 4.9
    assert float(match.group(1)) <= 2.0, out.stdout


def test_compose_monitor_config_is_valid() -> None:
    out = subprocess.run([sys.executable, "-m", "monitor.cli.main", "-c",
                          str(DEPLOY / "compose" / "monitor.yaml"), "config", "check"],
                         capture_output=True, text=True, check=False, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_prometheus_and_alertmanager_configs_are_valid(tmp_path: Path) -> None:
    # the compose file mounts alerts.yml at /etc/prometheus/alerts.yml; point it at ours
    text = (DEPLOY / "compose" / "prometheus.yml").read_text()
    assert "/etc/prometheus/alerts.yml" in text
    config = tmp_path / "prometheus.yml"
    config.write_text(text.replace("/etc/prometheus/alerts.yml",
                                   str(DEPLOY / "prometheus" / "alerts.yml")))
    out = subprocess.run([_tool("promtool", "prometheus"), "check", "config", str(config)],
                         capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    out = subprocess.run([_tool("amtool", "prometheus-alertmanager"), "check-config",
                          str(DEPLOY / "compose" / "alertmanager.yml")],
                         capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_mounts_and_dockerfile_copies_exist() -> None:
    compose = load_yaml(DEPLOY / "docker-compose.yml")
    mounted = [volume.split(":", 1)[0] for service in compose["services"].values()
               for volume in service.get("volumes", []) if volume.startswith("./")]
    assert mounted, "the compose stack mounts its configs from deploy/"
    for path in mounted:
        assert (DEPLOY / path).is_file(), path
    build = compose["services"]["monitor"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == \
        (DEPLOY / "Dockerfile").resolve()

    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entry = re.search(r'ENTRYPOINT \[.*"(\w+)"\]', dockerfile)
    assert entry and entry.group(1) in scripts

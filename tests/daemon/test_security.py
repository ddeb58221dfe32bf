"""The daemon against an Elasticsearch with security and HTTP TLS on (certificates made with
openssl, file-realm users, the shipped ``deploy/elasticsearch/roles.yml`` verbatim).

* with the documented least-privilege user the daemon ingests, evaluates and reports;
* a wrong password, an unknown CA and a plain-HTTP URL stop it at start (exit 3) with a clear
  message and without the secret in its output.
"""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor.simulate.checkpoint import PortScan, SimConfig, generate

from .procs import ROOT, MonitorProcess, wait_for
from .test_e2e_prometheus import critical_rule_pack

ADMIN_PASSWORD = "Adm1n-" + uuid.uuid4().hex[:12]
DAEMON_PASSWORD = "Da3mon-" + uuid.uuid4().hex[:12]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(cwd: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN={name}", cwd=cwd)


@pytest.fixture(scope="module")
def secure_es(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("secure-es")
    _ca(work, "ca")
    _ca(work, "other-ca")  # trusted by nobody: the "unknown CA" case
    (work / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr",
             "-subj", "/CN=localhost", cwd=work)
    _openssl("x509", "-req", "-in", "node.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-out", "node.crt", "-extfile", "san.ext",
             cwd=work)
    users = work / "users.txt"
    users.write_text(f"admin:{ADMIN_PASSWORD}:superuser\n"
                     f"monitor:{DAEMON_PASSWORD}:monitor_daemon\n")
    name = f"sec-{os.getpid()}"
    settings = ["xpack.security.enabled: true",
                "xpack.security.http.ssl.enabled: true",
                "xpack.security.http.ssl.key: node.key",
                "xpack.security.http.ssl.certificate: node.crt",
                'xpack.security.http.ssl.certificate_authorities: ["ca.crt"]']
    command = [sys.executable, str(ROOT / "scripts" / "elasticsearch"), "start", "--name", name,
               "--json", "--users-file", str(users), "--ca-file", str(work / "ca.crt")]
    for setting in settings:
        command += ["--setting", setting]
    for extra in ("ca.crt", "node.crt", "node.key"):
        command += ["--config-file", str(work / extra)]
    command += ["--config-file", str(ROOT / "deploy" / "elasticsearch" / "roles.yml")]
    out = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300,
                         env={**os.environ,
                              "MONITOR_ES_HEAP": os.environ.get("MONITOR_ES_HEAP", "512m")})
    if out.returncode != 0:
        pytest.fail(f"secure Elasticsearch did not start: {out.stderr[-3000:]}")
    record = json.loads(out.stdout)
    record["work"] = work
    try:
        yield record
    finally:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "elasticsearch"), "stop",
                        "--name", name], capture_output=True, check=False, timeout=120)


def _admin(record: dict[str, Any]) -> httpx.Client:
    return httpx.Client(base_url=record["url"], auth=("admin", ADMIN_PASSWORD),
                        verify=ssl.create_default_context(cafile=str(record["work"] / "ca.crt")),
                        timeout=60)


def _es_config(record: dict[str, Any], user: str, password_file: Path, **tls: Any) -> dict:
    return {"hosts": [record["url"]], "username": user, "password_file": str(password_file),
            "tls": {"ca_file": str(record["work"] / "ca.crt"), **tls}}


def _run_once(tmp: Path, name: str, es: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    folder = tmp / name
    folder.mkdir()
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump({"elasticsearch": es, "http": {"listen": "127.0.0.1:0"},
                                      "daemon": {"startup_timeout_seconds": 5}}))
    return subprocess.run([sys.executable, "-m", "monitor.cli.main", "-c", str(config), "run"],
                          capture_output=True, text=True, check=False, timeout=120, cwd=folder,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_least_privilege_user_ingests_evaluates_and_reports(
        secure_es: dict[str, Any], tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "admin").write_text(ADMIN_PASSWORD)
    (secrets / "daemon").write_text(DAEMON_PASSWORD)
    (secrets / "wrong").write_text("not-the-password-" + uuid.uuid4().hex[:6])

    # an administrator installs the templates once
    admin_cfg = tmp_path / "admin.yaml"
    admin_cfg.write_text(yaml.safe_dump({"elasticsearch": _es_config(
        secure_es, "admin", secrets / "admin")}))
    setup = subprocess.run([sys.executable, "-m", "monitor.cli.main", "-c", str(admin_cfg),
                            "es", "setup"], capture_output=True, text=True, check=False, timeout=120,
                           cwd=ROOT)
    assert setup.returncode == 0, setup.stderr

    # the least-privilege user cannot touch anything outside monitor-*
    context = ssl.create_default_context(cafile=str(secure_es["work"] / "ca.crt"))
    with httpx.Client(base_url=secure_es["url"], auth=("monitor", DAEMON_PASSWORD),
                      verify=context, timeout=30) as client:
        assert client.put("/other-index/_doc/1", json={"a": 1}).status_code == 403
        assert client.put("/_index_template/evil", json={"index_patterns": ["x*"]}
                          ).status_code == 403

    sample = tmp_path / "sample.log"
    start = datetime.now(UTC) - timedelta(minutes=3)
    sample.write_text("\n".join(line for _, line in generate(SimConfig(
        count=300, seed=5, start=start, events_per_second=5))) + "\n")
    config = {
        "elasticsearch": _es_config(secure_es, "monitor", secrets / "daemon"),
        "sources": {"files": {"paths": [str(sample)], "schedule": {"interval_seconds": 2}}},
        "rules": {"dirs": [str(critical_rule_pack(tmp_path / "rules", delay="20s"))],
                  "schedule": {"interval_seconds": 2}},
        "reports": {"dir": str(tmp_path / "reports"),
                    "kinds": [{"period": "daily", "cron": "* * * * *"}]},
        "daemon": {"stats_interval_seconds": 2},
        "logging": {"format": "json"},
    }
    daemon = MonitorProcess(tmp_path, "secure", config).start()
    try:
        daemon.wait_ready()

        # meanwhile: the three ways to get the connection wrong fail at start, clearly
        wrong = _run_once(tmp_path, "wrong-password",
                          _es_config(secure_es, "monitor", secrets / "wrong"))
        assert wrong.returncode == 3, wrong.stdout + wrong.stderr
        assert "refused the credentials (401)" in wrong.stderr
        unknown_ca = _run_once(tmp_path, "unknown-ca", _es_config(
            secure_es, "monitor", secrets / "daemon",
            ca_file=str(secure_es["work"] / "other-ca.crt")))
        assert unknown_ca.returncode == 3, unknown_ca.stdout + unknown_ca.stderr
        assert "not signed by a trusted CA" in unknown_ca.stderr
        plain = _run_once(tmp_path, "plain-http", {
            **_es_config(secure_es, "monitor", secrets / "daemon"),
            "hosts": [secure_es["url"].replace("https://", "http://")]})
        assert plain.returncode == 3, plain.stdout + plain.stderr
        assert "must start with https://" in plain.stderr
        for result in (wrong, unknown_ca, plain):
            output = result.stdout + result.stderr
            assert DAEMON_PASSWORD not in output and ADMIN_PASSWORD not in output
            assert (secrets / "wrong").read_text() not in output
            assert "Traceback" not in output

        with _admin(secure_es) as admin:
            def count(index: str) -> int:
                admin.post(f"/{index}/_refresh", params={"ignore_unavailable": "true",
                                                         "allow_no_indices": "true"})
                response = admin.get(f"/{index}/_count", params={
                    "ignore_unavailable": "true", "allow_no_indices": "true"})
                return int(response.json().get("count", 0))

            wait_for(lambda: count("monitor-events-*") >= 300, 120, "events indexed",
                     interval=1, on_fail=daemon.tail)
            # a port scan now, appended to the file the daemon follows
            with sample.open("a") as handle:
                handle.write("\n".join(line for _, line in generate(SimConfig(
                    count=0, seed=6, start=datetime.now(UTC),
                    scenarios=(PortScan(attacker="203.0.113.99", at=0, ports=40,
                                        interval=0.02),)))) + "\n")
            wait_for(lambda: count("monitor-findings-*") >= 1, 120, "a finding", interval=1,
                     on_fail=daemon.tail)
        wait_for(lambda: (daemon.metric("monitor_scheduler_job_runs_total",
                                        job_id="report:pci-dss-4.0.1:daily",
                                        outcome="success") or 0) >= 1
                 or (daemon.metric("monitor_scheduler_jobs_failed_total",
                                   job_id="report:pci-dss-4.0.1:daily") or 0) >= 1,
                 150, "the scheduled report", interval=1, on_fail=daemon.tail)
        assert daemon.metric("monitor_scheduler_job_runs_total",
                             job_id="report:pci-dss-4.0.1:daily", outcome="success") >= 1
        for job in ("rules", "compliance", "source:files", "retention", "stats"):
            assert (daemon.metric("monitor_scheduler_job_runs_total", job_id=job,
                                  outcome="success") or 0) >= 1, job + daemon.tail()
        # no request of the daemon was refused for lack of a privilege (a transient 503 while
        # a new monthly index allocates its shard is not a privilege problem)
        denied = [line for line in daemon.log_lines()
                  if any(word in line for word in ("(403)", "(401)", "not authorized",
                                                   "security_exception", "unauthorized"))]
        assert not denied, "\n".join(denied[:5])
        assert list((tmp_path / "reports").rglob("*.html")), "no report written"
        assert DAEMON_PASSWORD not in daemon.log()
    finally:
        daemon.stop()

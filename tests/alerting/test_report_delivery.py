"""Reports reach their readers: a rendered report is emailed through a real SMTP server on
loopback (aiosmtpd) over STARTTLS with a login, HTML attached and a text summary (status,
score, failed requirements, change since the previous report); a refused connection is
retried until the server is up; a delivery that never succeeds is counted and listed in the
next report's operational health section; the folder copy is byte-identical."""
from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry

from monitor.alerting.reports import deliver_report
from monitor.metrics.definitions import Metrics
from monitor.reports.job import render_report
from monitor.reports.period import Period
from monitor.settings import ReportDeliverySettings, settings_from_dict
from monitor.store import StateStore, Store

from .am import free_port

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the client trusts exactly it as its CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    crt, pem = folder / "smtp.crt", folder / "smtp.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[Any, email.message.EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope, message))  # type: ignore[arg-type]  # a test double of the SMTP handler
        return "250 OK"


def _login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"monitor" and \
        data.password == b"smtp-pa55"
    return AuthResult(success=ok, handled=False)


def _smtp_server(folder: Path, port: int, mailbox: Mailbox) -> Controller:
    crt, key = _cert(folder) if not (folder / "smtp.crt").exists() else \
        (folder / "smtp.crt", folder / "smtp.key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(crt, key)
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, authenticator=_login, auth_require_tls=True)
    controller.start()
    return controller


def _delivery(tmp: Path, port: int, **extra: Any) -> ReportDeliverySettings:
    if not (tmp / "smtp.crt").exists():
        _cert(tmp)
    return ReportDeliverySettings.model_validate({
        "smtp": {"host": "127.0.0.1", "port": port, "username": "monitor",
                 "password": "smtp-pa55", "sender": "monitor@example.net",
                 "tls": {"ca_file": str(tmp / "smtp.crt")}, "timeout_seconds": 10},
        "recipients": {"daily": ["soc@example.net", "qsa@example.net"],
                       "default": ["nobody@example.net"]},
        "initial_backoff_seconds": 0.3, "max_backoff_seconds": 1, **extra})


async def _render(store: Store, tmp: Path, start: datetime) -> Any:
    settings = settings_from_dict({"elasticsearch": {"index_prefix": store.names.prefix}})
    period = Period("daily", start, start + timedelta(days=1), f"daily_{start:%Y-%m-%d}")
    return await render_report(settings, store, "daily", datetime.now(UTC), period=period,
                               out_dir=tmp / "reports", formats=["html", "json"])


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_report_emailed_over_starttls_and_copied(store: Store, tmp_path: Path) -> None:
    await _render(store, tmp_path, TODAY - timedelta(days=2))  # the previous report
    record = await _render(store, tmp_path, TODAY - timedelta(days=1))
    port = free_port()
    mailbox = Mailbox()
    controller = _smtp_server(tmp_path, port, mailbox)
    metrics = Metrics(CollectorRegistry(), "test")
    try:
        results = await deliver_report(record, _delivery(tmp_path, port,
                                                         copy_to=str(tmp_path / "copies")),
                                       metrics, StateStore(store))
    finally:
        controller.stop()
    assert [(r.channel, r.ok, r.attempts) for r in results] == [("email", True, 1),
                                                                 ("folder", True, 1)]
    envelope, message = mailbox.messages[0]
    assert sorted(envelope.rcpt_tos) == ["qsa@example.net", "soc@example.net"]
    assert message["Subject"].startswith(f"[{record.status}] PCI DSS report {record.label}")
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert f"Status: {record.status}" in text
    assert "Score:" in text and "Failed requirements (" in text
    failed = [s.split("=")[0] for s in record.statuses if s.endswith("=fail")]
    assert all(req in text for req in failed)
    assert f"Change since daily_{TODAY - timedelta(days=2):%Y-%m-%d}" in text
    html = next(f.path for f in record.files if f.format == "html")
    attachment = next(message.iter_attachments())
    assert attachment.get_filename() == Path(html).name
    assert attachment.get_content_type() == "text/html"
    assert attachment.get_payload(decode=True) == Path(html).read_bytes()
    for f in record.files:
        assert (tmp_path / "copies" / Path(f.path).name).read_bytes() == Path(f.path).read_bytes()
    assert _value(metrics, "monitor_report_deliveries_total", channel="email",
                  outcome="success") == 1
    assert _value(metrics, "monitor_report_delivery_last_success_timestamp_seconds",
                  channel="email") > 0


async def test_a_refused_connection_is_retried_until_the_server_is_up(
        store: Store, tmp_path: Path) -> None:
    record = await _render(store, tmp_path, TODAY - timedelta(days=1))
    port = free_port()  # nothing listens yet: connection refused
    mailbox = Mailbox()
    metrics = Metrics(CollectorRegistry(), "test")
    task = asyncio.create_task(deliver_report(record, _delivery(tmp_path, port, max_attempts=20),
                                              metrics))
    await asyncio.sleep(1.5)
    assert not task.done()
    controller = _smtp_server(tmp_path, port, mailbox)
    try:
        results = await asyncio.wait_for(task, 60)
    finally:
        controller.stop()
    assert results[0].ok and results[0].attempts >= 2, results
    assert len(mailbox.messages) == 1


async def test_a_failed_delivery_is_counted_and_shown_in_the_next_report(
        store: Store, tmp_path: Path) -> None:
    record = await _render(store, tmp_path, TODAY - timedelta(days=1))
    metrics = Metrics(CollectorRegistry(), "test")
    results = await deliver_report(record, _delivery(tmp_path, free_port(), max_attempts=2),
                                   metrics, StateStore(store))
    assert not results[0].ok and results[0].attempts == 2
    assert "Connection refused" in results[0].error or "ConnectionRefused" in results[0].error
    assert _value(metrics, "monitor_report_deliveries_total", channel="email",
                  outcome="error") == 1
    nxt = await _render(store, tmp_path, TODAY)  # the period the failure happened in
    body = orjson.loads(next(f.path for f in nxt.files if f.format == "json").read_bytes())
    rows = body["report"]["health"]["job_failures"]
    row = next(r for r in rows if r["key"] == f"report-delivery:{record.label}:email")
    assert row["kind"] == "job_failure" and "refused" in row["detail"].lower()


@pytest.mark.parametrize("period", ["daily", "monthly"])
def test_recipients_per_report_kind(period: str) -> None:
    from monitor.alerting.reports import _recipients

    table = {"daily": ["soc@example.net"], "default": ["ciso@example.net"]}
    assert _recipients(table, period) == (["soc@example.net"] if period == "daily"
                                          else ["ciso@example.net"])


async def test_the_daemon_delivers_after_its_scheduled_render(es_url: str,
                                                              tmp_path: Path) -> None:
    """The report job of ``monitor run`` hands its rendered report to the delivery."""
    import uuid

    import httpx

    from monitor.daemon.app import Daemon

    prefix = f"t-rd{uuid.uuid4().hex[:8]}"
    settings = settings_from_dict({
        "elasticsearch": {"hosts": [es_url], "index_prefix": prefix},
        "http": {"listen": "127.0.0.1:0"},
        "ha": {"lease_seconds": 10, "renew_seconds": 2, "instance_id": f"rd-{prefix}"},
        "reports": {"dir": str(tmp_path / "reports"), "formats": ["html", "json"],
                    "kinds": [{"period": "daily", "cron": "30 0 * * *"}]},
        "alerting": {"report_delivery": {"copy_to": str(tmp_path / "copies")}},
    })
    daemon = Daemon(settings)
    try:
        await daemon.startup()
        deadline = asyncio.get_running_loop().time() + 60
        while not daemon.registry.get_sample_value("monitor_ha_active"):
            assert asyncio.get_running_loop().time() < deadline, "never became active"
            await asyncio.sleep(0.2)
        assert daemon.jobs is not None
        assert await daemon.jobs.run_now("report:pci-dss-4.0.1:daily") == "success"
        copied = sorted(p.name for p in (tmp_path / "copies").iterdir())
        rendered = sorted(p.name for p in (tmp_path / "reports").glob("pci-dss-4.0.1_daily_*"))
        assert copied == rendered and len(copied) == 2
        assert daemon.registry.get_sample_value(
            "monitor_report_deliveries_total", {"channel": "folder", "outcome": "success"}) == 1
    finally:
        await daemon.shutdown()
        async with httpx.AsyncClient(base_url=es_url) as client:
            await client.delete(f"/{prefix}-*", params={"expand_wildcards": "all"})
            await client.delete(f"/_index_template/{prefix}-*")

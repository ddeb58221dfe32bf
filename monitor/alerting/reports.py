"""Reports reach their readers: after a scheduled render, email the report and/or copy it.

Email goes over SMTP with STARTTLS (certificate verified unless ``tls.verify: false``) before
any credential is sent; the HTML report is an attachment, the body a short text summary a
reader can act on without opening it (status, score, failed requirements, change since the
previous report). Each channel is retried with exponential backoff (tenacity); a channel that
still fails is counted (``monitor_report_deliveries_total{outcome="error"}``) and written to the
state index as a ``job_failure`` row, which the next report lists in its operational health
section, so a report nobody received does not go unnoticed.

smtplib runs in a worker thread: it is blocking, and the daemon's loop must keep scheduling.
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Protocol

import orjson
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from ..metrics.definitions import Metrics
from ..settings import ReportDeliverySettings, SmtpSettings
from ..tls import client_context

__all__ = ["Delivered", "ReportFacts", "build_message", "deliver_report", "report_facts",
           "summary_text"]

log = logging.getLogger("monitor.alerting.reports")


class _Record(Protocol):
    """What a rendered report tells us (``monitor.reports.publish.ReportRecord``)."""

    id: str
    framework: str
    period: str
    label: str
    status: str
    score: float | None
    statuses: tuple[str, ...]
    files: tuple[Any, ...]


class _State(Protocol):
    async def update(self, key: str, value: dict[str, Any], *, kind: str = ...) -> Any: ...


@dataclass(frozen=True, slots=True)
class ReportFacts:
    label: str
    status: str
    score: float | None
    failed: tuple[str, ...]
    score_delta: float | None
    changes: tuple[tuple[str, str, str], ...]  # requirement, before, after
    previous: str | None


@dataclass(frozen=True, slots=True)
class Delivered:
    channel: str
    ok: bool
    attempts: int
    error: str = ""


def report_facts(record: _Record) -> ReportFacts:
    """From the record, plus the JSON twin's summary (change since the previous report) when
    the JSON format was rendered."""
    failed = tuple(s.split("=", 1)[0] for s in record.statuses if s.endswith("=fail"))
    summary: dict[str, Any] = {}
    json_file = next((f.path for f in record.files if f.format == "json"), None)
    if json_file is not None:
        try:
            summary = orjson.loads(Path(json_file).read_bytes())["report"]["summary"]
        except (OSError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            log.warning("report JSON unreadable; summary without changes",
                        extra={"fields": {"file": str(json_file), "error": str(exc)}})
    changes = tuple((str(c.get("requirement")), str(c.get("before")), str(c.get("after")))
                    for c in summary.get("changes") or [] if isinstance(c, dict))
    previous = (summary.get("previous") or {}).get("label") \
        if isinstance(summary.get("previous"), dict) else None
    return ReportFacts(label=record.label, status=record.status, score=record.score,
                       failed=failed, score_delta=summary.get("score_delta"), changes=changes,
                       previous=previous)


def summary_text(facts: ReportFacts, *, attached: str | None) -> str:
    score = "n/a" if facts.score is None else f"{facts.score:.1f} %"
    lines = [f"PCI DSS compliance report {facts.label}", "",
             f"Status: {facts.status}", f"Score:  {score}"]
    if facts.previous:
        delta = "n/a" if facts.score_delta is None else f"{facts.score_delta:+.1f} points"
        lines.append(f"Change since {facts.previous}: {delta}")
    lines.append("")
    lines.append(f"Failed requirements ({len(facts.failed)}): "
                 + (", ".join(facts.failed[:50]) if facts.failed else "none"))
    if len(facts.failed) > 50:
        lines.append(f"... and {len(facts.failed) - 50} more (see the report)")
    if facts.changes:
        lines.append("")
        lines.append("Status changes since the previous report:")
        lines.extend(f"  {req}: {before} -> {after}" for req, before, after in facts.changes[:50])
    elif facts.previous:
        lines.append("No requirement changed status since the previous report.")
    lines.append("")
    lines.append(f"The full report is attached ({attached})." if attached else
                 "The report was rendered without HTML; see the reports folder.")
    return "\n".join(lines) + "\n"


def build_message(record: _Record, facts: ReportFacts, sender: str,
                  recipients: Sequence[str]) -> EmailMessage:
    message = EmailMessage()
    score = "" if facts.score is None else f", score {facts.score:.1f} %"
    message["Subject"] = f"[{facts.status}] PCI DSS report {facts.label}{score}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or None)
    html = next((f.path for f in record.files if f.format == "html"), None)
    message.set_content(summary_text(facts, attached=Path(html).name if html else None))
    if html is not None:
        message.add_attachment(Path(html).read_bytes(), maintype="text", subtype="html",
                               filename=Path(html).name)
    return message


def _send(smtp: SmtpSettings, message: EmailMessage) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds) as client:
        client.ehlo()
        if smtp.starttls:
            client.starttls(context=client_context(smtp.tls, "SMTP"))
            client.ehlo()
        elif smtp.username:
            raise smtplib.SMTPException("refusing to send credentials without STARTTLS")
        if smtp.username and smtp.password is not None:
            client.login(smtp.username, smtp.password.get_secret_value())
        client.send_message(message)


def _transient(exc: BaseException) -> bool:
    """Connection trouble and 4xx answers may pass; 5xx (bad address, auth refused) will not."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return False
    return isinstance(exc, (OSError, smtplib.SMTPServerDisconnected, smtplib.SMTPException))


async def _retrying(cfg: ReportDeliverySettings, channel: str, work: Any) -> Delivered:
    attempts = 0
    try:
        async for attempt in AsyncRetrying(
                stop=stop_after_attempt(cfg.max_attempts),
                wait=wait_exponential(multiplier=cfg.initial_backoff_seconds,
                                      max=cfg.max_backoff_seconds),
                retry=retry_if_exception(_transient), reraise=True):
            with attempt:
                attempts = attempt.retry_state.attempt_number
                await asyncio.to_thread(work)
    except Exception as exc:  # noqa: BLE001 - reported, counted and shown in the next report
        return Delivered(channel, False, attempts, f"{type(exc).__name__}: {exc}"[:500])
    return Delivered(channel, True, attempts)


def _copy(record: _Record, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for file in record.files:
        source = Path(file.path)
        target = folder / source.name
        tmp = folder / f".{source.name}.tmp"
        shutil.copyfile(source, tmp)
        tmp.replace(target)


async def deliver_report(record: _Record, cfg: ReportDeliverySettings, metrics: Metrics,
                         state: _State | None = None, *, base_dir: Path = Path("."),
                         now: datetime | None = None) -> list[Delivered]:
    """Deliver one rendered report through every configured channel; never raises."""
    recipients = _recipients(cfg.recipients, record.period)
    results: list[Delivered] = []
    if cfg.smtp is not None and recipients:
        smtp = cfg.smtp
        facts = report_facts(record)
        message = build_message(record, facts, smtp.sender, recipients)
        results.append(await _retrying(cfg, "email", lambda: _send(smtp, message)))
    if cfg.copy_to is not None:
        folder = cfg.copy_to if cfg.copy_to.is_absolute() else base_dir / cfg.copy_to
        results.append(await _retrying(cfg, "folder", lambda: _copy(record, folder)))
    for result in results:
        await _account(result, record, metrics, state, now or datetime.now(UTC))
    return results


def _recipients(table: Mapping[str, list[str]], period: str) -> list[str]:
    return list(table.get(period) or table.get("default") or [])


async def _account(result: Delivered, record: _Record, metrics: Metrics, state: _State | None,
                   now: datetime) -> None:
    metrics.add_report_channel(result.channel)
    metrics.report_deliveries.labels(channel=result.channel,
                                     outcome="success" if result.ok else "error").inc()
    fields = {"report": record.id, "channel": result.channel, "attempts": result.attempts}
    if result.ok:
        metrics.report_delivery_last_success.labels(channel=result.channel).set(now.timestamp())
        log.info("report delivered", extra={"fields": fields})
        return
    log.error("report delivery failed", extra={"fields": {**fields, "error": result.error}})
    if state is None:
        return
    try:
        await state.update(f"report-delivery:{record.label}:{result.channel}",
                           {"job": f"report delivery ({result.channel})", "report": record.label,
                            "attempts": result.attempts, "error": result.error,
                            "at": now.isoformat()}, kind="job_failure")
    except Exception as exc:  # noqa: BLE001 - Elasticsearch down: the metric still says it
        log.warning("could not record the delivery failure", extra={"fields": {
            "error": str(exc)}})

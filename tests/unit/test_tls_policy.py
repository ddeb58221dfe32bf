"""``monitor.tls``: the one TLS client policy (forges, alert targets, SMTP)."""
from __future__ import annotations

import logging
import ssl

from monitor.settings import TlsClient
from monitor.tls import client_context


def test_verification_is_on_by_default_with_the_hostname_checked():
    for tls in (None, TlsClient()):
        context = client_context(tls, "test")
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_turning_verification_off_is_explicit_and_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="monitor.tls"):
        context = client_context(TlsClient(verify=False), "alert delivery")
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert "alert delivery: TLS verification is OFF" in caplog.text

"""The one TLS client policy for every HTTPS and STARTTLS connection we open (forges, the
Check Point API's CA mode, Alertmanager, webhooks, SMTP): verification on unless the settings
turn it off explicitly (and then a warning), an optional CA bundle and client certificate.

Certificate pinning (``fingerprint_sha256``) needs the server's certificate before the first
request, so only the clients that implement it accept it (the Check Point API,
``sources/checkpoint_tls.py``; Elasticsearch, through its client's own fingerprint check); the
settings refuse it elsewhere (``settings.ServerTls``) instead of ignoring a pin.
"""
from __future__ import annotations

import logging
import ssl

from .settings import TlsClient

__all__ = ["client_context"]

log = logging.getLogger(__name__)


def client_context(tls: TlsClient | None, purpose: str) -> ssl.SSLContext:
    """An ``ssl.SSLContext`` verifying the server (system trust store, or ``tls.ca_file``),
    with the client certificate when one is set. ``verify: false`` (which the settings allow
    only without a CA file or a pin) yields a context that checks nothing, logged at WARNING
    naming ``purpose``."""
    if tls is None:
        return ssl.create_default_context()
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.client_cert:
        context.load_cert_chain(str(tls.client_cert),
                                str(tls.client_key) if tls.client_key else None)
    if not tls.verify:
        log.warning("%s: TLS verification is OFF (tls.verify=false)", purpose)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context

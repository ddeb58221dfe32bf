"""Why the daemon cannot start, in words a user can act on (never a secret).

``diagnose(exc, settings)`` reads the chain of causes of a ``StoreError`` raised while
connecting: an untrusted certificate, TLS spoken to a plain-HTTP port (or the reverse),
refused credentials, a missing privilege, or an Elasticsearch that is not up yet
(``not_up_yet``: worth waiting for during ``daemon.startup_timeout_seconds``).
"""
from __future__ import annotations

import ssl

from ..settings import Settings

__all__ = ["diagnose", "not_up_yet"]


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def not_up_yet(exc: BaseException) -> bool:
    """Connection refused or timed out: Elasticsearch may be starting; worth waiting for."""
    return any(isinstance(e, (ConnectionRefusedError, TimeoutError)) for e in _chain(exc))


def diagnose(exc: BaseException, settings: Settings) -> str:
    """A start failure in words a user can act on; never a secret."""
    chain = _chain(exc)
    text = " ".join(f"{type(e).__name__}: {e}" for e in chain)
    hosts = ", ".join(settings.elasticsearch.hosts)
    if not_up_yet(exc):
        return f"Elasticsearch at {hosts} is not answering (connection refused or timed out)"
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or \
            "CERTIFICATE_VERIFY_FAILED" in text:
        return (f"TLS verification of Elasticsearch at {hosts} failed: the server certificate is "
                "not signed by a trusted CA (set elasticsearch.tls.ca_file to the cluster's CA)")
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return (f"TLS handshake with {hosts} failed: the server does not speak TLS "
                "(use http:// for a plain-HTTP cluster)")
    if "401" in text or "authentication failed" in text:
        return (f"Elasticsearch at {hosts} refused the credentials (401): check "
                "elasticsearch.username/password or api_key")
    if "403" in text or "not authorized" in text:
        return (f"Elasticsearch at {hosts} refused a request (403): the user lacks a privilege "
                f"({exc}); see deploy/elasticsearch/roles.yml")
    if any(h.startswith("http://") for h in settings.elasticsearch.hosts):
        return (f"cannot talk to Elasticsearch at {hosts} ({exc}); if the cluster has TLS on, "
                "the URL must start with https://")
    return f"cannot talk to Elasticsearch at {hosts}: {exc}"

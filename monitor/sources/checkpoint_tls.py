"""TLS for the Check Point Management API: a CA bundle or a pinned certificate, never neither.

``ssl_context_for(tls, host, port)`` returns the ``ssl.SSLContext`` httpx should use:

* ``ca_file`` → verify the chain against that bundle (hostname checked);
* ``fingerprint_sha256`` → fetch the server certificate once, compare its SHA-256 with the pin
  (a mismatch raises ``SourceError`` showing the observed fingerprint, for enrolment), then trust
  exactly that certificate as the only anchor, so every later connection is verified against it;
* neither → the system trust store (hostname checked);
* ``verify: false`` is refused here: the API carries admin credentials.
"""
from __future__ import annotations

import asyncio
import hashlib
import ssl

from ..errors import SourceError
from ..settings import TlsClient

__all__ = ["fetch_certificate", "normalize_fingerprint", "ssl_context_for"]


def normalize_fingerprint(text: str) -> str:
    return text.replace(":", "").replace(" ", "").lower()


async def fetch_certificate(host: str, port: int, timeout: float = 10.0) -> bytes:
    """DER of the certificate the server presents (no trust decision made here)."""
    probe = ssl.create_default_context()
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE  # only to read the certificate; it is compared below
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=probe, server_hostname=host), timeout)
    except (TimeoutError, OSError, ssl.SSLError) as exc:
        raise SourceError(f"cannot reach {host}:{port} to read its certificate: {exc}") from exc
    try:
        # asyncio's transport hands back the ssl.SSLObject (None for a plain connection)
        ssl_object: ssl.SSLObject | None = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
    del reader
    if not der:
        raise SourceError(f"{host}:{port} presented no certificate")
    return der


async def ssl_context_for(tls: TlsClient, host: str, port: int) -> ssl.SSLContext:
    if not tls.verify:
        raise SourceError("TLS verification cannot be turned off for the Check Point API; "
                          "set tls.ca_file or tls.fingerprint_sha256")
    if tls.fingerprint_sha256:
        der = await fetch_certificate(host, port)
        seen = hashlib.sha256(der).hexdigest()
        if seen != normalize_fingerprint(tls.fingerprint_sha256):
            raise SourceError(f"certificate fingerprint mismatch for {host}:{port}: server "
                              f"presented SHA-256 {seen}; if you trust it, set "
                              f"tls.fingerprint_sha256 to that value")
        context = ssl.create_default_context(cadata=ssl.DER_cert_to_PEM_cert(der))
        context.check_hostname = False  # the pin identifies the server, names often do not
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    else:
        context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.client_cert:
        context.load_cert_chain(str(tls.client_cert), str(tls.client_key) if tls.client_key
                                else None)
    return context

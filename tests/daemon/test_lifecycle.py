"""Signals set flags; a second exit signal forces; start failures are explained."""
from __future__ import annotations

import asyncio
import os
import signal
import ssl
from pathlib import Path

import pytest

from monitor.daemon.diagnose import diagnose
from monitor.daemon.lifecycle import Lifecycle, remove_pidfile, write_pidfile
from monitor.errors import StoreError, StoreUnavailable
from monitor.settings import settings_from_dict


async def test_signals_only_set_flags_and_a_second_one_forces() -> None:
    life = Lifecycle()
    with life.capture():
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(life.wait(), 10)
        assert life.take_reload() and not life.take_reload()
        assert not life.should_exit
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(life.wait(), 10)
        assert life.should_exit and not life.force_exit
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.wait_for(life.forced.wait(), 10)
        assert life.force_exit
    # handlers restored: SIGHUP is back to its default disposition
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL


def test_pidfile_refuses_a_live_owner(tmp_path: Path) -> None:
    path = tmp_path / "monitor.pid"
    path.write_text("1\n")  # pid 1 is alive
    with pytest.raises(RuntimeError, match="running process 1"):
        write_pidfile(path)
    path.write_text("999999999\n")  # stale
    write_pidfile(path)
    assert path.read_text().strip() == str(os.getpid())
    remove_pidfile(path)
    assert not path.exists()


def _chain(outer: Exception, inner: BaseException) -> Exception:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(("hosts", "error", "expected"), [
    (["https://es:9200"], _chain(StoreUnavailable("health: transport error"),
                                 ssl.SSLCertVerificationError("CERTIFICATE_VERIFY_FAILED")),
     "not signed by a trusted CA"),
    (["https://es:9200"], StoreError("health: authentication failed (401): check ..."),
     "refused the credentials (401)"),
    (["http://es:9200"], StoreUnavailable("health: Elasticsearch unreachable: ConnectionError"),
     "must start with https://"),
    (["http://es:9200"], _chain(StoreUnavailable("health: unreachable"),
                                ConnectionRefusedError(111, "refused")),
     "is not answering"),
    (["https://es:9200"], StoreError("health: not authorized (403): the user lacks a privilege"),
     "deploy/elasticsearch/roles.yml"),
])
def test_start_failures_are_explained(hosts: list[str], error: Exception, expected: str) -> None:
    # an http:// host with credentials must be accepted explicitly (issue 16); the diagnosis of
    # a TLS server behind that http:// URL is what these cases check
    plaintext = {"allow_plaintext_credentials": True} if hosts[0].startswith("http://") else {}
    settings = settings_from_dict({"elasticsearch": {"hosts": hosts, "username": "u",
                                                     "password": "s3cret-pw", **plaintext}})
    message = diagnose(error, settings)
    assert expected in message
    assert "s3cret-pw" not in message

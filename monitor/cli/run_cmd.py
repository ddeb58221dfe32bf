"""``monitor run`` (the daemon) and ``monitor reload`` (ask a running daemon to reload).

``monitor run`` exits 0 after a clean stop (SIGTERM/SIGINT), 1 when a second signal forced it,
2 on an invalid configuration and 3 when it cannot start (Elasticsearch unreachable, refused
credentials, untrusted certificate); the reason is one log line, never a secret.

``monitor reload`` sends SIGHUP to the pid in ``daemon.pidfile`` (or ``--pid``), or POSTs to
``/-/reload`` on the daemon's HTTP endpoint with ``--http``.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .common import EXIT_OK, EXIT_USAGE, CommandGroups, fail

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["register"]


def register(groups: CommandGroups) -> None:
    run = groups.command("run", "run the monitor daemon (collect, evaluate, report, export metrics)")
    run.add_argument("--pidfile", type=Path, help="write the pid here (overrides daemon.pidfile)")
    run.add_argument("--listen", help="metrics endpoint host:port (overrides http.listen)")
    run.add_argument("--instance-id", help="HA instance id (overrides ha.instance_id)")
    run.set_defaults(handler=_run)
    reload = groups.command("reload", "ask a running daemon to re-read its config and rules")
    reload.add_argument("--pid", type=int, help="pid of the daemon (default: from daemon.pidfile)")
    reload.add_argument("--pidfile", type=Path, help="pidfile of the daemon")
    reload.add_argument("--http", metavar="URL",
                        help="daemon endpoint, e.g. http://127.0.0.1:9464 (POST /-/reload)")
    reload.set_defaults(handler=_reload)


def _load(args: argparse.Namespace) -> tuple[Settings, str | None]:
    from ..settings import load_settings, settings_from_dict

    path = args.config
    if path == "config.yaml" and not os.path.exists(path):
        return settings_from_dict({}, "<defaults>"), None
    return load_settings(path), path


def _run(args: argparse.Namespace) -> int:
    try:
        settings, path = _load(args)
    except ConfigError as exc:
        return fail(f"invalid configuration:\n{exc}", EXIT_USAGE)
    overrides: dict[str, object] = {}
    if args.pidfile:
        overrides["daemon"] = settings.daemon.model_copy(update={"pidfile": args.pidfile})
    if args.listen:
        overrides["http"] = settings.http.model_copy(update={"listen": args.listen})
    if args.instance_id:
        overrides["ha"] = settings.ha.model_copy(update={"instance_id": args.instance_id})
    if overrides:
        settings = settings.model_copy(update=overrides)
    import prometheus_client

    from ..logsetup import configure_logging, secrets_of

    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream
    redactor = configure_logging(settings.logging, secrets_of(settings), verbose=args.verbose)
    from ..daemon.app import Daemon  # heavy imports only for this command

    daemon = Daemon(settings, config_path=path, redactor=redactor)
    return asyncio.run(daemon.serve())


def _reload(args: argparse.Namespace) -> int:
    if args.http:
        return _reload_http(args)
    pid = args.pid
    if pid is None:
        pidfile = args.pidfile
        if pidfile is None:
            try:
                settings, _ = _load(args)
            except ConfigError as exc:
                return fail(f"invalid configuration:\n{exc}", EXIT_USAGE)
            pidfile = settings.daemon.pidfile
        if pidfile is None:
            return fail("no pid: give --pid, --pidfile, --http or set daemon.pidfile", EXIT_USAGE)
        try:
            pid = int(Path(pidfile).read_text().strip())
        except (OSError, ValueError) as exc:
            return fail(f"cannot read pidfile {pidfile}: {exc}")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return fail(f"no process {pid} (stale pidfile?)")
    except PermissionError:
        return fail(f"not allowed to signal process {pid}")
    print(f"reload requested (SIGHUP to {pid}); the daemon logs whether it was applied")
    return EXIT_OK


def _reload_http(args: argparse.Namespace) -> int:
    url = args.http.rstrip("/") + "/-/reload"
    request = urllib.request.Request(url, method="POST", data=b"",
                                     headers={"X-Monitor-Request": "reload"})
    user, password = os.environ.get("MONITOR_HTTP_USER"), os.environ.get("MONITOR_HTTP_PASSWORD")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=os.environ.get("MONITOR_HTTP_CA")) \
        if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            print(response.read().decode().strip())
    except urllib.error.HTTPError as exc:
        return fail(f"{url}: HTTP {exc.code}")
    except (urllib.error.URLError, OSError) as exc:
        return fail(f"{url}: {exc}")
    return EXIT_OK

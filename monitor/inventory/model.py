"""The inventory: configuration-management data the compliance controls and threat rules need.

One strict schema (unknown keys are errors, every problem reported with file and field):

* ``zones``: named network zones with CIDRs; ``cde: true`` marks cardholder-data-environment
  zones, ``trusted: false`` marks untrusted ones (partners, guest Wi-Fi); ``wireless: true`` marks
  wireless networks (PCI 1.3.3). Any address outside every trusted zone is untrusted (internet).
  ``allowed_inbound`` / ``allowed_outbound``: the approved services of the zone (1.2.5), each with
  a justification.
* ``chd_hosts``: systems that store cardholder data (1.4.4).
* ``public_services``: hosts and ports that may be reached from untrusted networks (1.4.2).
* ``gateways``: firewalls whose logs must arrive; ``perimeter: true`` = CDE perimeter (IPS, 11.5.1).
* ``management_servers`` / ``log_servers``: Check Point management (Smart-1, MDS) and log
  servers. They log too (the audit trail), but event-driven: they are never "gateways", so a
  quiet night on the management server is not a silent gateway. ``repos``: the policy-as-code
  repositories whose changes may be installed from that management server.
* ``admin_workstations``: networks administrators work from (jump hosts, admin VLAN).
* ``approved_scanners``: vulnerability/ASV scanners whose sweeps are expected (11.3), with a
  justification.
* ``business_hours``: when administrators normally work (after-hours rules read it).
* ``wireless: none``: an explicit declaration that no wireless network exists (PCI 1.3.3), which
  is not the same as having forgotten to list one.
* a zone's ``role`` (``app``, ``web``, ``db`` …) names it for rules (``zone_<role>_networks``) and
  allowed services; a service may say ``from_zones`` (``5432 into the CDE only from the app
  tier``).
* ``deploy_identities``: pipeline/bot identities (git logins, Check Point API administrators).
* ``administrators``: human administrators (8.2.x); ``generic_accounts``: shared names (8.2.2).
* ``change_windows``: when production changes may be deployed (weekday + UTC time range).
* ``insecure_services`` and ``insecure_exceptions`` (1.2.6), ``broad_rules`` (any-any/cleanup
  rule names or uuids, 1.2.1/1.3.1), ``go_live`` (for retention, 10.5.1). Tickets are recognised
  by ``monitor.identifiers`` (and a repository's own ``ticket_pattern`` in the config), not here.

``Inventory.params()`` flattens this into the values control queries reference as
``$inventory.<name>`` (lists of CIDRs, names, ready-made query fragments).
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
from datetime import date, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEFAULT_INSECURE_SERVICES",
    "Administrator",
    "ChangeWindow",
    "ChdHost",
    "Gateway",
    "Inventory",
    "PublicService",
    "Scanner",
    "Server",
    "Service",
    "Zone",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError as exc:
        raise ValueError(f"not an IP network: {value!r}") from exc


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise ValueError(f"not an IP address: {value!r}") from exc


class Service(_Model):
    """One approved (transport, port) with the business justification (PCI 1.2.5); with
    ``from_zones`` / ``from_networks`` only from those sources (the peer side of the flow)."""

    transport: Literal["tcp", "udp", "icmp"] = "tcp"
    port: int | None = Field(None, ge=0, le=65535)
    name: str = ""
    justification: str = Field(min_length=3)
    from_zones: list[str] = Field(default_factory=list)
    from_networks: list[str] = Field(default_factory=list)

    _from = field_validator("from_networks")(lambda cls, v: [_network(x) for x in v])

    @model_validator(mode="after")
    def _port(self) -> Service:
        if self.transport != "icmp" and self.port is None:
            raise ValueError("port is required for tcp/udp services")
        return self


class Zone(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    networks: list[str] = Field(min_length=1)
    cde: bool = False
    trusted: bool = True
    wireless: bool = False
    preprod: bool = False
    role: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    allowed_inbound: list[Service] = Field(default_factory=list)
    allowed_outbound: list[Service] = Field(default_factory=list)

    _net = field_validator("networks")(lambda cls, v: [_network(x) for x in v])


class ChdHost(_Model):
    name: str
    ip: str
    zone: str | None = None
    _ip = field_validator("ip")(lambda cls, v: _address(v))


class PublicService(_Model):
    name: str
    ip: str
    port: int = Field(ge=0, le=65535)
    transport: Literal["tcp", "udp"] = "tcp"
    _ip = field_validator("ip")(lambda cls, v: _address(v))


class Gateway(_Model):
    name: str
    ip: str | None = None
    _ip = field_validator("ip")(lambda cls, v: None if v is None else _address(v))
    perimeter: bool = False
    zones: list[str] = Field(default_factory=list)


class Server(_Model):
    """A management or log server: its ``origin`` in Log Exporter output is ``ip`` or ``name``."""

    name: str
    ip: str | None = None
    _ip = field_validator("ip")(lambda cls, v: None if v is None else _address(v))
    #: policy-as-code repositories whose changes this server may install
    repos: list[str] = Field(default_factory=list)


class Scanner(_Model):
    """An approved scanner (internal vulnerability scanner, ASV): its sweeps are expected."""

    name: str
    networks: list[str] = Field(min_length=1)
    justification: str = Field(min_length=3)
    _net = field_validator("networks")(lambda cls, v: [_network(x) for x in v])


class Administrator(_Model):
    name: str
    email: str | None = None
    aliases: list[str] = Field(default_factory=list)


class ChangeWindow(_Model):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start: time
    end: time
    timezone: Literal["UTC"] = "UTC"
    environments: list[str] = Field(default_factory=lambda: ["production"])


class InsecureService(_Model):
    transport: Literal["tcp", "udp"] = "tcp"
    port: int = Field(ge=0, le=65535)
    name: str


DEFAULT_INSECURE_SERVICES = (
    InsecureService(port=21, name="ftp"), InsecureService(port=23, name="telnet"),
    InsecureService(transport="udp", port=69, name="tftp"), InsecureService(port=80, name="http"),
    InsecureService(port=110, name="pop3"), InsecureService(port=143, name="imap"),
    InsecureService(transport="udp", port=161, name="snmp"),
    InsecureService(port=512, name="rexec"), InsecureService(port=513, name="rlogin"),
    InsecureService(port=514, name="rsh"),
)


class InsecureException(_Model):
    """An approved use of an insecure service (1.2.6): compensating control and approver."""

    destination: str
    port: int = Field(ge=0, le=65535)
    transport: Literal["tcp", "udp"] = "tcp"
    justification: str = Field(min_length=3)
    approver: str
    expires: date | None = None
    _dst = field_validator("destination")(lambda cls, v: _network(v))


class Inventory(_Model):
    version: Literal[1] = 1
    zones: list[Zone] = Field(default_factory=list)
    chd_hosts: list[ChdHost] = Field(default_factory=list)
    public_services: list[PublicService] = Field(default_factory=list)
    gateways: list[Gateway] = Field(default_factory=list)
    management_servers: list[Server] = Field(default_factory=list)
    log_servers: list[Server] = Field(default_factory=list)
    admin_workstations: list[str] = Field(default_factory=list)
    approved_scanners: list[Scanner] = Field(default_factory=list)
    #: ``none`` declares that there is no wireless network at all (PCI 1.3.3 not applicable)
    wireless: Literal["none"] | None = None
    deploy_identities: list[str] = Field(default_factory=list)
    administrators: list[Administrator] = Field(default_factory=list)
    generic_accounts: list[str] = Field(default_factory=lambda: ["admin", "root", "administrator"])
    change_windows: list[ChangeWindow] = Field(default_factory=list)
    business_hours: list[ChangeWindow] = Field(default_factory=list)
    insecure_services: list[InsecureService] = Field(
        default_factory=lambda: list(DEFAULT_INSECURE_SERVICES))
    insecure_exceptions: list[InsecureException] = Field(default_factory=list)
    broad_rules: list[str] = Field(default_factory=list)
    go_live: date | None = None
    production_environments: list[str] = Field(default_factory=lambda: ["production", "prod"])
    #: repositories whose mainline commits must carry a good signature matching the committer
    signature_required_repos: list[str] = Field(default_factory=list)
    #: where approved NSC (firewall ruleset) review records are committed (PCI 1.2.7)
    nsc_review_path: str = "reviews/nsc/"

    _admin = field_validator("admin_workstations")(lambda cls, v: [_network(x) for x in v])

    @model_validator(mode="after")
    def _references(self) -> Inventory:
        names = [z.name for z in self.zones]
        if self.wireless == "none" and any(z.wireless for z in self.zones):
            raise ValueError("wireless: none, but zones "
                             f"{', '.join(z.name for z in self.zones if z.wireless)} are wireless")
        for zone in self.zones:
            for service in (*zone.allowed_inbound, *zone.allowed_outbound):
                for peer in service.from_zones:
                    if peer not in names:
                        raise ValueError(f"zones: {zone.name}: {service.name or service.port}: "
                                         f"from_zones: unknown zone {peer!r}")
        gateway_names = {g.name for g in self.gateways} | {g.ip for g in self.gateways if g.ip}
        for server in (*self.management_servers, *self.log_servers):
            if server.name in gateway_names or (server.ip and server.ip in gateway_names):
                raise ValueError(f"{server.name}: listed both as a gateway and as a "
                                 "management/log server")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"zone names used twice: {', '.join(dupes)}")
        for host in self.chd_hosts:
            if host.zone is not None and host.zone not in names:
                raise ValueError(f"chd_hosts: {host.name}: unknown zone {host.zone!r}")
        for gateway in self.gateways:
            for zone_name in gateway.zones:
                if zone_name not in names:
                    raise ValueError(f"gateways: {gateway.name}: unknown zone {zone_name!r}")
        return self

    # -- derived values for control queries --------------------------------------------------

    def params(self, at: date | None = None) -> dict[str, Any]:
        """Values a control's query may reference as ``$inventory.<key>``. Empty lists stay
        empty: a control that needs a value checks ``requires_inventory`` and reports
        ``insufficient_data`` instead of running a query that matches nothing. ``at`` drops
        insecure-service exceptions that expired before that day (they resurface)."""
        cde = [z for z in self.zones if z.cde]
        nets = {z.name: z.networks for z in self.zones}
        trusted_nets = sorted({n for z in self.zones if z.trusted for n in z.networks})
        return {
            "cde_networks": sorted({n for z in cde for n in z.networks}),
            "trusted_networks": trusted_nets,
            "internal_networks": sorted({n for z in self.zones for n in z.networks}),
            "untrusted_zone_networks": sorted({n for z in self.zones if not z.trusted
                                               for n in z.networks}),
            "wireless_networks": sorted({n for z in self.zones if z.wireless for n in z.networks}),
            "preprod_networks": sorted({n for z in self.zones if z.preprod for n in z.networks}),
            "chd_hosts": sorted({h.ip for h in self.chd_hosts}),
            "public_hosts": sorted({p.ip for p in self.public_services}),
            # Log Exporter's ``origin`` (observer.name) is the gateway's address when it has one
            "gateways": sorted({g.ip or g.name for g in self.gateways}),
            "perimeter_gateways": sorted({g.ip or g.name for g in self.gateways if g.perimeter}),
            "management_servers": sorted({s.ip or s.name for s in self.management_servers}),
            "log_servers": sorted({s.ip or s.name for s in self.log_servers}),
            "admin_workstations": sorted(set(self.admin_workstations)),
            "approved_scanners": sorted({n for s in self.approved_scanners for n in s.networks}),
            "no_wireless": self.wireless == "none",
            "deploy_identities": sorted(set(self.deploy_identities)),
            "administrators": sorted({a.name for a in self.administrators}),
            "administrator_names": sorted({n.lower() for a in self.administrators
                                           for n in (a.name, *a.aliases)}
                                          | {a.name for a in self.administrators}),
            "generic_accounts": sorted({n for g in self.generic_accounts
                                        for n in (g, g.lower(), g.upper(), g.capitalize())}),
            "insecure_ports": sorted({s.port for s in self.insecure_services}),
            "broad_rules": sorted(set(self.broad_rules)),
            "go_live": self.go_live.isoformat() if self.go_live else None,
            "production_environments": sorted(set(self.production_environments)),
            "signature_required_repos": sorted(set(self.signature_required_repos)),
            "nsc_review_path": self.nsc_review_path,
            "allowed_inbound_cde": _allowed_query(cde, "destination", "allowed_inbound", nets),
            "allowed_outbound_cde": _allowed_query(cde, "source", "allowed_outbound", nets),
            **{f"zone_{role}_networks": networks for role, networks in self.roles().items()},
            "public_services_query": _public_query(self.public_services),
            # the repositories an install may come from (management_servers[].repos); no
            # declaration binds nothing (match_all)
            "change_repos_query": ({"terms": {"change.repo": sorted(
                {r for s in self.management_servers for r in s.repos})}}
                if any(s.repos for s in self.management_servers) else {"match_all": {}}),
            # the same binding per management server (its origin: ip and name), for the one
            # reconciliation of an install (inventory/reconcile.py); empty: no binding
            "change_repos_by_origin": {key: sorted(set(s.repos))
                                       for s in self.management_servers if s.repos
                                       for key in {s.name, s.ip} if key},
            "insecure_services_query": _services_query(self.insecure_services),
            "insecure_exceptions_query": _exceptions_query(
                [e for e in self.insecure_exceptions
                 if at is None or e.expires is None or e.expires >= at]),
        }

    def roles(self) -> dict[str, list[str]]:
        """Zone role → the networks of the zones with that role."""
        out: dict[str, set[str]] = {}
        for zone in self.zones:
            if zone.role:
                out.setdefault(zone.role, set()).update(zone.networks)
        return {role: sorted(networks) for role, networks in sorted(out.items())}

    def digest(self) -> str:
        """The inventory's version: sha256 of its canonical JSON. A finding and a control
        result record it, so an auditor knows which inventory judged them."""
        dump = self.model_dump(mode="json")
        return hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()


_NEVER: dict[str, Any] = {"bool": {"must_not": {"match_all": {}}}}


def _service_clause(service: Service | InsecureService) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = [{"term": {"network.transport": service.transport}}]
    if service.port is not None:
        clauses.append({"term": {"destination.port": service.port}})
    return {"bool": {"filter": clauses}}


def _allowed_query(zones: list[Zone], side: str, attr: str,
                   nets: dict[str, list[str]]) -> dict[str, Any]:
    """Traffic of the zone's side (destination for inbound) on one of its approved services,
    from the service's peers when it names them (``from_zones`` / ``from_networks``)."""
    peer = "source" if side == "destination" else "destination"
    should = []
    for zone in zones:
        services = getattr(zone, attr)
        if not services:
            continue
        clauses = []
        for service in services:
            clause = _service_clause(service)
            peers = sorted({n for z in service.from_zones for n in nets.get(z, [])}
                           | set(service.from_networks))
            if peers:
                clause = {"bool": {"filter": [clause, {"terms": {f"{peer}.ip": peers}}]}}
            clauses.append(clause)
        should.append({"bool": {"filter": [
            {"terms": {f"{side}.ip": zone.networks}},
            {"bool": {"should": clauses, "minimum_should_match": 1}},
        ]}})
    return {"bool": {"should": should, "minimum_should_match": 1}} if should else _NEVER


def _public_query(services: list[PublicService]) -> dict[str, Any]:
    should = [{"bool": {"filter": [{"term": {"destination.ip": s.ip}},
                                   {"term": {"destination.port": s.port}},
                                   {"term": {"network.transport": s.transport}}]}}
              for s in services]
    return {"bool": {"should": should, "minimum_should_match": 1}} if should else _NEVER


def _services_query(services: list[InsecureService]) -> dict[str, Any]:
    should = [_service_clause(s) for s in services]
    return {"bool": {"should": should, "minimum_should_match": 1}} if should else _NEVER


def _exceptions_query(exceptions: list[InsecureException]) -> dict[str, Any]:
    should = [{"bool": {"filter": [{"term": {"destination.ip": e.destination}},
                                   {"term": {"destination.port": e.port}},
                                   {"term": {"network.transport": e.transport}}]}}
              for e in exceptions]
    return {"bool": {"should": should, "minimum_should_match": 1}} if should else _NEVER

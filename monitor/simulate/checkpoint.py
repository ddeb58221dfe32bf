"""Synthetic Check Point Log Exporter traffic (``syslog`` format), deterministic.

``generate(config)`` yields ``(timestamp, line)`` in time order: a baseline mix of firewall
accepts and drops (some with hide NAT), VPN encrypt/decrypt, IPS detections, Anti-Bot blocks,
admin logins/logouts and routine audit events, merged with the injected scenarios. The same
``seed`` and ``start`` give byte-identical output.

Scenarios (all parameters explicit, times are offsets in seconds from ``start``):

* ``PortScan(attacker, target, at, ports=100, first_port=1, interval=0.05)``: ``ports`` Drops
  from ``attacker`` to ``target`` on consecutive ports, one every ``interval`` seconds.
* ``HostSweep(attacker, subnet="10.1.2.0/24", port=445, at, hosts=50, interval=0.1)``: Drops
  from ``attacker`` to ``hosts`` distinct addresses of ``subnet`` on one port.
* ``BruteForce(attacker, admin="admin", at, failures=8, interval=5.0, success=True)``:
  ``failures`` SmartConsole "Log In" audit events with ``audit_status:"Failure"`` (operation
  number 11, "Wrong Password") from ``attacker``, then one successful login.
* ``OutOfBandChange(admin="rogue", client_ip, at, rule_name, rule_uid, gateway, policy)``:
  a SmartConsole "Modify Rule" whose ``fieldschanges`` say ``Action: Changed from 'Drop' to
  'Accept'`` (no ticket in ``session_description``), then "Publish" 30 s later and "Install
  Policy" on ``gateway`` 60 s later; nothing in Git corresponds to it.

CLI spec strings (``--scenario``) are ``name:key=value,key=value``, e.g.
``port_scan:attacker=203.0.113.66,target=10.0.0.5,at=120``.
"""
from __future__ import annotations

import heapq
import ipaddress
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .incidents import (
    INCIDENTS,
    DropFlood,
    GatewayOutage,
    LoggingDisabled,
    SmbToInternet,
    ThreatNotPrevented,
    silenced,
)
from .incidents import lines as incident_lines
from .network import DEFAULT as DEFAULT_NETWORK
from .network import Network

__all__ = [
    "SCENARIOS",
    "AcceptOnCleanup",
    "AdminAtNight",
    "ExpertShell",
    "VpnLogonFailures",
    "BruteForce",
    "CleartextIntoCde",
    "DropFlood",
    "GatewayOutage",
    "LoggingDisabled",
    "SmbToInternet",
    "ThreatNotPrevented",
    "GitOpsInstall",
    "Network",
    "HostSweep",
    "OutOfBandChange",
    "PortScan",
    "SimConfig",
    "format_line",
    "generate",
    "place",
    "scenario_from_spec",
]

MGMT_IP = "10.0.0.10"
GATEWAYS = (("gw-edge-1", "10.0.0.1"), ("gw-cde-1", "10.20.0.1"))
INTERNAL = ("10.1.2.", "10.20.5.", "192.168.10.")
EXTERNAL = ("203.0.113.", "198.51.100.", "192.0.2.")
#: the rate the fixed populations above are sized for (747 hosts a side). Faster, each host
#: would reach ~150 distinct addresses in 2 minutes at 2,000 events/s, which IS a host sweep:
#: hosts then scale with the rate, internal ones in 10.64.0.0/10 and external ones in the
#: benchmarking range 198.18.0.0/15 (RFC 2544), so per-host behaviour stays the same.
DESIGN_RATE = 20.0
_SCALED_BASE: dict[tuple[str, ...], int] = {INTERNAL: int(ipaddress.ip_address("10.64.0.0")),
                                           EXTERNAL: int(ipaddress.ip_address("198.18.0.0"))}
_SCALED_MAX = 1 << 17
_EXTERNAL_ZONE = EXTERNAL + ("198.18.", "198.19.")
SERVICES = ((443, "https", "6"), (80, "http", "6"), (53, "domain-udp", "17"),
            (22, "ssh", "6"), (123, "ntp-udp", "17"), (3389, "rdp", "6"), (1433, "MS-SQL-Server", "6"))
RULES = (("1fde807b-6300-4b1a-914f-f1c1f3e2e7d2", "Allow web", "Accept"),
         ("b769a8ca-3ce1-4293-9099-f1c08980c1b1", "DNS out", "Accept"),
         ("82434e2a-a72c-4a59-8422-a0269fc32e93", "CDE to DB", "Accept"),
         ("5f0ee2a1-0d7c-4b88-9c39-000000000001", "Cleanup rule", "Drop"))
ADMINS = ("alice", "bob", "carol")
PROTECTIONS = (("Microsoft Windows SMB Remote Code Execution (MS17-010)", "CVE-2017-0144", "IPS"),
               ("Apache Log4j Remote Code Execution", "CVE-2021-44228", "IPS"),
               ("SQL Injection", "", "IPS"))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def format_line(moment: datetime, host: str, pid: int, items: list[tuple[str, str]]) -> str:
    """One Log Exporter syslog line (RFC 5424 header, ``[k:"v"; ...]`` body)."""
    body = "; ".join(f'{k}:"{_escape(v)}"' for k, v in items)
    return f"<134>1 {moment.strftime('%Y-%m-%dT%H:%M:%SZ')} {host} CheckPoint {pid} - [{body}]"


@dataclass(frozen=True)
class PortScan:
    attacker: str = "203.0.113.66"
    target: str = "10.20.5.10"
    at: float = 60.0
    ports: int = 100
    first_port: int = 1
    interval: float = 0.05


@dataclass(frozen=True)
class HostSweep:
    attacker: str = "198.51.100.77"
    subnet: str = "10.1.2.0/24"
    port: int = 445
    at: float = 120.0
    hosts: int = 50
    interval: float = 0.1


@dataclass(frozen=True)
class BruteForce:
    attacker: str = "192.0.2.200"
    admin: str = "admin"
    at: float = 180.0
    failures: int = 8
    interval: float = 5.0
    success: bool = True


@dataclass(frozen=True)
class OutOfBandChange:
    admin: str = "rogue"
    client_ip: str = "10.9.9.9"
    at: float = 240.0
    rule_name: str = "Block telnet"
    rule_uid: str = "e2117254-df10-4a5d-8d42-cacc362e077b"
    gateway: str = "gw-cde-1"
    policy: str = "Standard"


@dataclass(frozen=True)
class CleartextIntoCde:
    """``count`` accepted connections on a cleartext service (Telnet by default) from an
    office host into a CDE host."""

    source: str = "10.1.2.44"
    target: str = "10.20.5.10"
    port: int = 23
    at: float = 300.0
    count: int = 3


@dataclass(frozen=True)
class GitOpsInstall:
    """An approved pipeline install: the deploy identity publishes and installs a policy
    whose session names the merged commit (``git:<repo>@<sha>``). Nothing should flag it when
    the forge data holds the approving pull request and the deployment."""

    deployer: str = "svc-policy-deployer"
    client_ip: str = "10.0.5.200"
    sha: str = "3f2a9c1d0e8b7a6f5e4d3c2b1a0f9e8d7c6b5a41"
    repo: str = "firewall-policy"
    at: float = 360.0
    gateway: str = "gw-cde-1"


@dataclass(frozen=True)
class AdminAtNight:
    """An administrator logs in to the management server at ``at`` (set it outside business
    hours) from an admin workstation, and publishes."""

    admin: str = "bob"
    client_ip: str = "10.0.5.7"
    at: float = 14 * 3600.0


@dataclass(frozen=True)
class AcceptOnCleanup:
    """``count`` connections accepted by the cleanup (catch-all) rule: someone turned the last
    rule of the policy into an Accept."""

    source: str = "203.0.113.90"
    target: str = "10.1.2.60"
    port: int = 3389
    at: float = 400.0
    count: int = 3


@dataclass(frozen=True)
class VpnLogonFailures:
    """``attempts`` failed remote-access VPN logins from ``attacker``, ``interval`` seconds
    apart, cycling over ``users`` account names (1: guessing one password; many: spraying)."""

    attacker: str = "198.51.100.44"
    users: int = 1
    attempts: int = 12
    interval: float = 10.0
    at: float = 500.0


@dataclass(frozen=True)
class ExpertShell:
    """An administrator opens the Gaia expert shell on a gateway."""

    admin: str = "carol"
    client_ip: str = "10.0.5.9"
    at: float = 600.0


SCENARIOS: dict[str, type[Scenario]] = {
    "port_scan": PortScan, "host_sweep": HostSweep,
    "brute_force": BruteForce, "out_of_band_change": OutOfBandChange,
    "cleartext_into_cde": CleartextIntoCde,
    "gitops_install": GitOpsInstall, "admin_at_night": AdminAtNight,
    "accept_on_cleanup": AcceptOnCleanup,
    "vpn_logon_failures": VpnLogonFailures, "expert_shell": ExpertShell,
    "threat_not_prevented": ThreatNotPrevented,
    "logging_disabled": LoggingDisabled, "drop_flood": DropFlood,
    "gateway_outage": GatewayOutage, "smb_to_internet": SmbToInternet}
Scenario = (PortScan | HostSweep | BruteForce | OutOfBandChange | CleartextIntoCde | GitOpsInstall
            | AdminAtNight | AcceptOnCleanup | VpnLogonFailures | ExpertShell
            | ThreatNotPrevented | LoggingDisabled | DropFlood | GatewayOutage | SmbToInternet)


def place(item: Scenario, network: Network) -> Scenario:
    """The scenario on ``network``: where it still uses the built-in network's addresses and
    names (its defaults), the network's own (CDE host, office subnet, gateways, workstations)."""
    own = {"target": network.office_prefix + "60" if isinstance(item, AcceptOnCleanup)
           else None if isinstance(item, SmbToInternet) else network.cde_host,
           "subnet": network.office_subnet,
           "source": network.office_prefix + ("45" if isinstance(item, SmbToInternet)
                                              else "44"),
           "client_ip": network.admin_prefix + ("7" if isinstance(item, AdminAtNight)
                                                else "9" if isinstance(item, ExpertShell)
                                                else "200"),
           "admin": network.admins[min(1, len(network.admins) - 1)]
           if isinstance(item, AdminAtNight) else network.admins[-1]
           if isinstance(item, ExpertShell) else None,
           "gateway": network.gateways[network.cde_gateway][0]}
    changes: dict[str, Any] = {}  # str values for fields named at run time: replace() takes Any
    for f in fields(item):
        if own.get(f.name) is not None and getattr(item, f.name) == f.default:
            changes[f.name] = own[f.name]
    return replace(item, **changes) if changes else item


@dataclass(frozen=True)
class SimConfig:
    """``count`` baseline lines, ``events_per_second`` of simulated time, from ``start``."""

    count: int = 1000
    seed: int = 1
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    events_per_second: float = 20.0
    scenarios: tuple[Scenario, ...] = field(default_factory=tuple)
    #: where the traffic goes (``Network.from_inventory``); None: the built-in network
    network: Network | None = None
    #: tickets of approved changes the administrators edit rules under (CHK-02 accepts a
    #: human edit only when an approved change carries its ticket); none: on a clean day the
    #: administrators only log in and out, policy changes come from the pipeline
    tickets: tuple[str, ...] = ()


def scenario_from_spec(spec: str) -> Scenario:
    """``port_scan:attacker=1.2.3.4,at=60`` → ``PortScan(...)``; ValueError names the problem."""
    name, _, params = spec.partition(":")
    cls = SCENARIOS.get(name.strip())
    if cls is None:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    types = {f.name: f.type for f in fields(cls)}
    values: dict[str, Any] = {}
    for item in filter(None, params.split(",")):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in types:
            raise ValueError(f"{name}: unknown parameter {key!r} (known: {', '.join(types)})")
        kind = str(types[key])
        try:
            values[key] = (int(value) if kind == "int" else float(value) if kind == "float"
                           else value.lower() in ("1", "true", "yes") if kind == "bool" else value)
        except ValueError:
            raise ValueError(f"{name}: {key} must be {kind}, got {value!r}") from None
    return cls(**values)


class _Gen:
    rules = RULES
    format_line = staticmethod(format_line)

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.net = config.network or DEFAULT_NETWORK
        self.rng = random.Random(config.seed)
        self.counter = 0
        scale = config.events_per_second / DESIGN_RATE
        #: None at or below the design rate: the exact address sequence of earlier versions
        self.hosts = min(_SCALED_MAX, int(747 * scale)) if scale > 1 else None

    def loguid(self, moment: datetime, origin: str) -> str:
        self.counter += 1
        stamp = int(moment.timestamp()) & 0xFFFFFFFF
        address = int(ipaddress.ip_address(origin)) & 0xFFFFFFFF
        return f"{{0x{stamp:08x},0x{self.counter:x},0x{address:08x},0x{self.rng.getrandbits(32):08x}}}"

    def head(self, moment: datetime, origin: str, action: str | None, ifdir: str = "inbound"
             ) -> list[tuple[str, str]]:
        items = [("action", action)] if action else []
        items += [("flags", "411908"), ("ifdir", ifdir), ("ifname", "eth1"), ("logid", "0"),
                  ("loguid", self.loguid(moment, origin)), ("origin", origin),
                  ("originsicname", f"cn=cp_mgmt,o={self.gw_name(origin)}..abc123"),
                  ("sequencenum", "1"), ("time", str(int(moment.timestamp()))), ("version", "5")]
        return items

    def gw_name(self, origin: str) -> str:
        for name, ip in self.net.gateways:
            if ip == origin:
                return name
        return "cp-mgmt"

    def ip(self, prefixes: tuple[str, ...]) -> str:
        if self.hosts is None:
            return self.rng.choice(prefixes) + str(self.rng.randint(2, 250))
        offset = self.rng.randrange(self.hosts)
        base = _SCALED_BASE.get(prefixes) or int(ipaddress.ip_address(prefixes[0] + "0"))
        return str(ipaddress.IPv4Address(base + 256 * (offset // 250)
                                         + 2 + offset % 250))

    def connection(self, moment: datetime, src: str, dst: str, port: int, service_id: str,
                   proto: str, rule: tuple[str, str, str], origin: str) -> str:
        items = self.head(moment, origin, rule[2])
        items += [("dst", dst), ("inzone", "External" if src.startswith(_EXTERNAL_ZONE) else "Internal"),
                  ("outzone", "Internal"), ("layer_name", "Network"), ("match_id", "1"),
                  ("parent_rule", "0"), ("rule_action", rule[2]), ("rule_name", rule[1]),
                  ("rule_uid", rule[0]), ("product", "VPN-1 & FireWall-1"), ("proto", proto),
                  ("s_port", str(self.rng.randint(1024, 65535))), ("service", str(port)),
                  ("service_id", service_id), ("src", src)]
        return format_line(moment, self.gw_name(origin), 1930, items)

    def audit(self, moment: datetime, admin: str, client_ip: str, operation: str, subject: str,
              extra: list[tuple[str, str]], status: str | None = None) -> str:
        items = self.head(moment, self.net.mgmt_ip, "Accept", "outbound")
        items += [("administrator", admin), ("client_ip", client_ip)]
        if status:
            items.append(("audit_status", status))
        items += extra + [("operation", operation), ("product", "SmartConsole"),
                          ("subject", subject)]
        return format_line(moment, "cp-mgmt", 10547, items)

    def baseline(self, moment: datetime) -> str:
        roll = self.rng.random()
        origin = self.rng.choice(self.net.gateways)[1]
        if roll < 0.55:
            port, sid, proto = self.rng.choice(SERVICES[:3])
            rule = RULES[0] if port != 53 else RULES[1]
            return self.connection(moment, self.ip(self.net.internal), self.ip(self.net.external), port, sid, proto,
                                   rule, origin)
        if roll < 0.75:
            port, sid, proto = self.rng.choice(SERVICES)
            return self.connection(moment, self.ip(self.net.external), self.ip(self.net.internal), port, sid, proto,
                                   RULES[3], origin)
        if roll < 0.85:  # hide NAT
            line = self.connection(moment, self.ip(self.net.internal), self.ip(self.net.external), 443, "https", "6",
                                   RULES[0], origin)
            nat = f'; xlatesrc:"{origin}"; xlatesport:"{self.rng.randint(10000, 60000)}"]'
            return line[:-1] + nat
        if roll < 0.90:  # VPN
            items = self.head(moment, origin, self.rng.choice(("Encrypt", "Decrypt")))
            items += [("community", "RemoteAccess"), ("dst", self.ip(self.net.internal)),
                      ("fw_subproduct", "VPN-1"), ("methods:", "ESP: AES-256 + SHA256"),
                      ("peer_gateway", self.ip(self.net.external)), ("product", "VPN-1 & FireWall-1"),
                      ("proto", "6"), ("scheme:", "IKE"), ("service", "443"),
                      ("src", self.ip(self.net.external)), ("user", self.rng.choice(self.net.admins)),
                      ("vpn_feature_name", "VPN")]
            return format_line(moment, self.gw_name(origin), 1930, items)
        if roll < 0.94:  # IPS
            name, cve, _ = self.rng.choice(PROTECTIONS)
            action = self.rng.choice(("Detect", "Prevent"))
            items = self.head(moment, origin, action)
            items += [("attack", "Remote Code Execution"), ("confidence_level", "4"),
                      ("dst", self.ip(self.net.internal)), ("industry_reference", cve or "none"),
                      ("performance_impact", "2"), ("product", "IPS"),
                      ("protection_id", f"asm_dynamic_prop_{self.rng.randint(1000, 9999)}"),
                      ("protection_name", name), ("protection_type", "IPS"), ("proto", "6"),
                      ("rule_action", action), ("s_port", str(self.rng.randint(1024, 65535))),
                      ("service", "445"), ("severity", "3"), ("src", self.ip(self.net.external))]
            return format_line(moment, self.gw_name(origin), 1930, items)
        if roll < 0.96:  # Anti-Bot
            items = self.head(moment, origin, "Block", "outbound")
            items += [("confidence_level", "5"), ("dst", self.ip(self.net.external)),
                      ("malware_action", "Communication with C&C site"),
                      ("malware_family", "Emotet"),
                      ("malware_rule_id", "{F50127A1-D5C9-4BAC-8C3F-2D2557E6FFAD}"),
                      ("policy", "Standard"), ("product", "Anti Malware"),
                      ("protection_name", "Emotet.TC.a"), ("protection_type", "URL reputation"),
                      ("proto", "6"), ("resource", "http://bad.example/gate.php"),
                      ("s_port", str(self.rng.randint(1024, 65535))), ("service", "80"),
                      ("severity", "2"), ("src", self.ip(self.net.internal))]
            return format_line(moment, self.gw_name(origin), 1930, items)
        if not self.net.working(moment):  # administrators are home: the office browses
            return self.connection(moment, self.ip(self.net.internal), self.ip(self.net.external),
                                   443, "https", "6", RULES[0], origin)
        admin = self.rng.choice(self.net.admins)
        client = self.net.admin_prefix + str(self.rng.randint(2, 40))
        if roll < 0.985:
            op = self.rng.choice(("Log In", "Log Out"))
            subject = "Administrator Login" if op == "Log In" else "Administrator Logout"
            extra = [("operation_number", "10" if op == "Log In" else "12")]
            return self.audit(moment, admin, client, op, subject, extra,
                              "Success" if op == "Log In" else None)
        pick = self.rng.randint(100000, 999999)  # drawn either way: the stream stays the same
        if not self.config.tickets:
            return self.audit(moment, admin, client, "Log Out", "Administrator Logout",
                              [("operation_number", "12")], None)
        ticket = self.config.tickets[pick % len(self.config.tickets)]
        return self.audit(moment, admin, client, "Modify Rule", "Object Manipulation",
                          [("fieldschanges", "Destination: Added 'web-01'"),
                           ("objectname", self.rng.choice(RULES)[1]),
                           ("objecttype", "Access Control Rule"), ("session_description", ticket),
                           ("session_name", f"{admin}@1/1/2026")])

    def _gitops(self, start: datetime, item: GitOpsInstall) -> list[tuple[datetime, str]]:
        return _gitops_lines(self, start, item)

    def scenario(self, item: Scenario) -> list[tuple[datetime, str]]:
        start = self.config.start + timedelta(seconds=item.at)
        out: list[tuple[datetime, str]] = []
        if isinstance(item, PortScan):
            for i in range(item.ports):
                moment = start + timedelta(seconds=i * item.interval)
                port = item.first_port + i
                out.append((moment, self.connection(moment, item.attacker, item.target, port,
                                                    str(port), "6", RULES[3],
                                                    self.net.gateways[self.net.cde_gateway][1])))
        elif isinstance(item, HostSweep):
            hosts = list(ipaddress.ip_network(item.subnet, strict=False).hosts())[:item.hosts]
            for i, host in enumerate(hosts):
                moment = start + timedelta(seconds=i * item.interval)
                out.append((moment, self.connection(moment, item.attacker, str(host), item.port,
                                                    str(item.port), "6", RULES[3],
                                                    self.net.gateways[self.net.edge_gateway][1])))
        elif isinstance(item, BruteForce):
            for i in range(item.failures):
                moment = start + timedelta(seconds=i * item.interval)
                out.append((moment, self.audit(
                    moment, item.admin, item.attacker, "Log In", "Administrator Login",
                    [("additional_info", "Administrator failed to log in: Wrong Password"),
                     ("operation_number", "11")], "Failure")))
            if item.success:
                moment = start + timedelta(seconds=item.failures * item.interval)
                out.append((moment, self.audit(moment, item.admin, item.attacker, "Log In",
                                               "Administrator Login",
                                               [("operation_number", "10")], "Success")))
        elif isinstance(item, CleartextIntoCde):
            for i in range(item.count):
                moment = start + timedelta(seconds=i * 20)
                out.append((moment, self.connection(
                    moment, item.source, item.target, item.port, str(item.port), "6",
                    RULES[2], self.net.gateways[self.net.cde_gateway][1])))
        elif isinstance(item, GitOpsInstall):
            out.extend(self._gitops(start, item))
        elif isinstance(item, AcceptOnCleanup):
            cleanup = RULES[3][:2] + ("Accept",)
            for i in range(item.count):
                moment = start + timedelta(seconds=i * 30)
                out.append((moment, self.connection(
                    moment, item.source, item.target, item.port, str(item.port), "6", cleanup,
                    self.net.gateways[self.net.edge_gateway][1])))
        elif isinstance(item, VpnLogonFailures):
            gateway = self.net.gateways[self.net.edge_gateway][1]
            for i in range(item.attempts):
                moment = start + timedelta(seconds=i * item.interval)
                items = self.head(moment, gateway, "Failed Log In")
                items += [("auth_method", "Password"), ("fw_subproduct", "VPN-1"),
                          ("product", "VPN-1 & FireWall-1"), ("src", item.attacker),
                          ("user", f"user{i % item.users:02d}")]
                out.append((moment, format_line(moment, self.gw_name(gateway), 1930, items)))
        elif isinstance(item, ExpertShell):
            gateway = self.net.gateways[self.net.cde_gateway][1]
            items = self.head(start, gateway, "Log In")
            items += [("administrator", item.admin), ("product", "Expert Shell"),
                      ("src", item.client_ip), ("user", item.admin)]
            out.append((start, format_line(start, self.gw_name(gateway), 1930, items)))
        elif isinstance(item, INCIDENTS):
            out.extend(incident_lines(self, start, item))
        elif isinstance(item, AdminAtNight):
            out.append((start, self.audit(start, item.admin, item.client_ip, "Log In",
                                          "Administrator Login", [("operation_number", "10")],
                                          "Success")))
        else:
            session = [("session_name", f"{item.admin}@session"), ("session_description", "")]
            out.append((start, self.audit(
                start, item.admin, item.client_ip, "Modify Rule", "Object Manipulation",
                [("fieldschanges", (f"Action: Changed from 'Drop' to 'Accept' Layer Name: "
                                    f"'{item.policy} Network'")),
                 ("objectname", item.rule_name), ("objecttype", "Access Control Rule"),
                 ("uid", item.rule_uid)] + session)))
            moment = start + timedelta(seconds=30)
            out.append((moment, self.audit(moment, item.admin, item.client_ip, "Publish",
                                           "Revision Control",
                                           [("fieldschanges", "1 Objects were changed")]
                                           + session)))
            moment = start + timedelta(seconds=60)
            out.append((moment, self.audit(
                moment, item.admin, item.client_ip, "Install Policy", "Policy Installation",
                [("additional_info", f"Access Control Policy: {item.policy}"),
                 ("objectname", item.gateway)], "Success")))
        return out


def _gitops_lines(gen: _Gen, start: datetime, item: GitOpsInstall) -> list[tuple[datetime, str]]:
    session = [("session_name", f"git:{item.repo}@{item.sha[:12]}"),
               ("session_description", f"deploy {item.repo} {item.sha}")]
    publish = gen.audit(start, item.deployer, item.client_ip, "Publish", "Revision Control",
                        [("fieldschanges", "3 Objects were changed")] + session)
    moment = start + timedelta(seconds=30)
    install = gen.audit(moment, item.deployer, item.client_ip, "Install Policy",
                        "Policy Installation",
                        [("additional_info", "Access Control Policy: Standard"),
                         ("objectname", item.gateway)] + session, "Success")
    return [(start, publish), (moment, install)]


def generate(config: SimConfig) -> Iterator[tuple[datetime, str]]:
    """Baseline and scenario lines merged in time order (deterministic for seed + start)."""
    gen = _Gen(config)
    step = 1.0 / config.events_per_second

    outage = any(isinstance(item, GatewayOutage) for item in config.scenarios)

    def baseline() -> Iterator[tuple[datetime, str]]:
        for i in range(config.count):
            moment = config.start + timedelta(seconds=i * step)
            line = gen.baseline(moment)
            if not (outage and silenced(config, moment, line, gen.net)):
                yield moment, line

    placed = [place(item, config.network) if config.network else item
              for item in config.scenarios]
    injected = sorted((pair for item in placed for pair in gen.scenario(item)),
                      key=lambda pair: pair[0])
    yield from heapq.merge(baseline(), injected, key=lambda pair: pair[0])

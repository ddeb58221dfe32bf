"""More injected incidents for the Check Point simulator, one per threat rule that had none:
an IPS detection left unprevented, logging turned off on a rule, a flood of drops on one
gateway, a gateway that stops logging. ``checkpoint.py`` dispatches to ``lines``; the outage is
applied to the baseline by ``generate`` (``silenced``)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["INCIDENTS", "DropFlood", "GatewayOutage", "LoggingDisabled", "SmbToInternet",
           "ThreatNotPrevented", "lines", "silenced"]


@dataclass(frozen=True)
class ThreatNotPrevented:
    """A critical IPS detection in Detect mode (not prevented) against a CDE host."""

    attacker: str = "203.0.113.77"
    target: str = "10.20.5.10"
    at: float = 700.0


@dataclass(frozen=True)
class LoggingDisabled:
    """An administrator sets a rule's Track to None in SmartConsole."""

    admin: str = "alice"
    client_ip: str = "10.0.5.11"
    rule_name: str = "CDE to DB"
    at: float = 800.0


@dataclass(frozen=True)
class DropFlood:
    """``count`` drops from as many distinct outside addresses into one gateway in a burst."""

    count: int = 200
    interval: float = 1.5
    at: float = 900.0


@dataclass(frozen=True)
class GatewayOutage:
    """The edge gateway sends nothing for ``minutes``."""

    minutes: float = 40.0
    at: float = 1000.0


@dataclass(frozen=True)
class SmbToInternet:
    """An office host's SMB connection to an outside address, accepted."""

    source: str = "10.1.2.45"
    target: str = "203.0.113.140"
    at: float = 1100.0


INCIDENTS = (ThreatNotPrevented, LoggingDisabled, DropFlood, GatewayOutage, SmbToInternet)


def lines(gen: Any, start: datetime, item: Any) -> list[tuple[datetime, str]]:
    net = gen.net  # the generator hands its formatter and rules: no import back (no cycle)
    format_line, cleanup_drop = gen.format_line, gen.rules[3]
    cde_gw = net.gateways[net.cde_gateway][1]
    if isinstance(item, ThreatNotPrevented):
        items = gen.head(start, cde_gw, "Detect")
        items += [("attack", "Remote Code Execution"), ("confidence_level", "5"),
                  ("dst", item.target), ("industry_reference", "CVE-2021-44228"),
                  ("performance_impact", "2"), ("product", "IPS"),
                  ("protection_id", "asm_dynamic_prop_4242"),
                  ("protection_name", "Apache Log4j Remote Code Execution"),
                  ("protection_type", "IPS"), ("proto", "6"), ("rule_action", "Detect"),
                  ("s_port", "41000"), ("service", "443"), ("severity", "4"),
                  ("src", item.attacker)]
        return [(start, format_line(start, gen.gw_name(cde_gw), 1930, items))]
    if isinstance(item, LoggingDisabled):
        return [(start, gen.audit(start, item.admin, item.client_ip, "Modify Rule",
                                  "Object Manipulation",
                                  [("fieldschanges", "Track: Changed from 'Log' to 'None'"),
                                   ("objectname", item.rule_name),
                                   ("objecttype", "Access Control Rule"),
                                   ("session_description", "CHG100077"),
                                   ("session_name", f"{item.admin}@session")]))]
    if isinstance(item, DropFlood):
        out = []
        for i in range(item.count):
            moment = start + timedelta(seconds=i * item.interval)
            source = f"198.51.100.{1 + i % 250}" if i < 250 else f"192.0.2.{1 + i % 250}"
            out.append((moment, gen.connection(moment, source, net.cde_host, 443, "https", "6",
                                               cleanup_drop, cde_gw)))
        return out
    if isinstance(item, SmbToInternet):
        edge = net.gateways[net.edge_gateway][1]
        allow = gen.rules[0][:2] + ("Accept",)
        return [(start, gen.connection(start, item.source, item.target, 445,
                                       "microsoft-ds", "6", allow, edge))]
    return []


def silenced(config: Any, moment: datetime, line: str, network: Any) -> bool:
    """Whether a baseline line falls in a gateway outage of the configuration."""
    for item in config.scenarios:
        if isinstance(item, GatewayOutage):
            start = config.start + timedelta(seconds=item.at)
            gateway = network.gateways[network.edge_gateway][1]
            if start <= moment < start + timedelta(minutes=item.minutes) and \
                    f'origin:"{gateway}"' in line:
                return True
    return False

"""The network the simulator places its traffic on: gateways, management server, internal and
CDE hosts, administrators and their workstations.

``Network()`` is the simulator's built-in network (the example inventory describes it, and
its output is byte-identical to earlier versions); ``Network.from_inventory(inventory)`` places
the same traffic and scenarios on the network an inventory describes, so tests and demos can
run the same scenarios on two different networks and the rules cannot lean on one of them.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["DEFAULT", "Network"]


def _prefixes(networks: list[str], limit: int = 3) -> tuple[str, ...]:
    """``a.b.c.`` prefixes of the first /24s of ``networks`` (IPv4 only)."""
    out: list[str] = []
    for text in networks:
        net = ipaddress.ip_network(text, strict=False)
        if net.version != 4:
            continue
        sub = next(net.subnets(new_prefix=24)) if net.prefixlen < 24 else net
        prefix = ".".join(str(sub.network_address).split(".")[:3]) + "."
        if prefix not in out:
            out.append(prefix)
        if len(out) >= limit:
            break
    return tuple(out)


@dataclass(frozen=True)
class Network:
    gateways: tuple[tuple[str, str], ...] = (("gw-edge-1", "10.0.0.1"), ("gw-cde-1", "10.20.0.1"))
    mgmt_ip: str = "10.0.0.10"
    #: internal host prefixes; the last one is the CDE's
    internal: tuple[str, ...] = ("10.1.2.", "10.20.5.", "192.168.10.")
    external: tuple[str, ...] = ("203.0.113.", "198.51.100.", "192.0.2.")
    admins: tuple[str, ...] = ("alice", "bob", "carol")
    admin_prefix: str = "10.0.5."
    cde_prefix: str = "10.20.5."
    office_prefix: str = "10.1.2."
    #: index in ``gateways`` of the CDE gateway and of the edge gateway
    cde_gateway: int = 1
    edge_gateway: int = 0
    #: when administrators work: (ISO weekdays, start minute, end minute) in UTC; None (the
    #: built-in network): around the clock, as earlier versions
    business: tuple[tuple[frozenset[int], int, int], ...] | None = None

    def working(self, moment: datetime) -> bool:
        if self.business is None:
            return True
        minute = moment.hour * 60 + moment.minute
        return any(moment.isoweekday() in days and lo <= minute < hi
                   for days, lo, hi in self.business)

    @property
    def cde_host(self) -> str:
        return self.cde_prefix + "10"

    @property
    def office_subnet(self) -> str:
        return self.office_prefix + "0/24"

    @classmethod
    def from_inventory(cls, inventory: Any) -> Network:
        """``inventory`` is a ``monitor.inventory.Inventory`` (read by attribute: the simulator
        sits below the inventory package in the layering and does not import it)."""
        gateways = tuple((g.name, g.ip) for g in inventory.gateways if g.ip)
        if not gateways:
            raise ValueError("the inventory lists no gateway with an ip: nothing to simulate on")
        cde_nets = [n for z in inventory.zones if z.cde for n in z.networks]
        office_nets = [n for z in inventory.zones if z.trusted and not z.cde and not z.wireless
                       and not z.preprod for n in z.networks
                       if not any(ipaddress.ip_network(n, strict=False).overlaps(
                           ipaddress.ip_network(a, strict=False))
                           for a in inventory.admin_workstations)]
        cde = (_prefixes([h.ip + "/24" for h in inventory.chd_hosts]) or _prefixes(cde_nets))
        office = _prefixes(office_nets)
        if not cde or not office:
            raise ValueError("the inventory needs a CDE zone and an office zone to simulate on")
        cde_names = {z.name for z in inventory.zones if z.cde}
        with_ip = [g for g in inventory.gateways if g.ip]
        cde_gw = next((i for i, g in enumerate(with_ip) if set(g.zones) & cde_names),
                      len(with_ip) - 1)
        edge_gw = next((i for i in range(len(with_ip)) if i != cde_gw), 0)
        mgmt = next((s.ip for s in inventory.management_servers if s.ip), None)
        admins = tuple(a.name for a in inventory.administrators) or cls.admins
        admin = _prefixes(inventory.admin_workstations, 1)
        days = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
        business = tuple((frozenset(days[d] for d in w.days), w.start.hour * 60 + w.start.minute,
                          24 * 60 if (w.end.hour, w.end.minute) == (23, 59)
                          else w.end.hour * 60 + w.end.minute)
                         for w in inventory.business_hours) or None
        return cls(gateways=gateways, mgmt_ip=mgmt or cls.mgmt_ip,
                   internal=office[:2] + cde[:1], admins=admins,
                   admin_prefix=admin[0] if admin else cls.admin_prefix,
                   cde_prefix=cde[0], office_prefix=office[0], cde_gateway=cde_gw,
                   edge_gateway=edge_gw, business=business)


DEFAULT = Network()

"""``VISUALIZER_PRIVATE_HOSTS_ALLOWED``: the hosts and networks outbound requests may reach
although they are not public.

Parsed here, below both :mod:`visualizer_core.config` (which validates the variable at start-up)
and :mod:`visualizer_core.outbound` (which checks every outbound URL against it), so that neither
imports the other.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "NOTHING_PRIVATE",
    "NUMERIC_HOST",
    "IPAddress",
    "IPNetwork",
    "PrivateHosts",
    "parse_private_hosts",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")
"""A host written as numbers (``2130706433``, ``0x7f000001``, ``127.1``): an address, not a name."""
_HOST_NAME = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$")


@dataclass(frozen=True)
class PrivateHosts:
    """Host names (``*.suffix`` allowed) and networks that may be reached although not public."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    def allows_name(self, host: str) -> bool:
        host = host.rstrip(".").lower()
        return any(
            host.endswith(name[1:]) if name.startswith("*.") else host == name
            for name in self.names
        )

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)


NOTHING_PRIVATE = PrivateHosts()


def parse_private_hosts(text: str | Iterable[str] | None) -> PrivateHosts:
    """``"10.0.0.0/8, hooks.internal, *.corp.example"`` as a :class:`PrivateHosts`.

    Raises ``ValueError`` naming the first entry that is neither a CIDR nor a host name.
    """
    if text is None:
        return NOTHING_PRIVATE
    entries = text.split(",") if isinstance(text, str) else list(text)
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if not _HOST_NAME.match(entry) or NUMERIC_HOST.match(entry):
            raise ValueError(f"{raw.strip()!r} is neither a host name nor a CIDR like 10.0.0.0/8")
        names.add(entry.rstrip("."))
    return PrivateHosts(frozenset(names), tuple(networks))

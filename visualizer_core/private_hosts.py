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
    "NON_GLOBAL",
    "NOTHING_PRIVATE",
    "NUMERIC_HOST",
    "IPAddress",
    "IPNetwork",
    "PrivateHosts",
    "non_global_reason",
    "parse_private_hosts",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")
"""A host written as numbers (``2130706433``, ``0x7f000001``, ``127.1``): an address, not a name."""

# IANA's IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and their later entries,
# read 2025), every block that is not globally reachable, with multicast, site-local IPv6 and
# the IPv6 space outside global unicast added. Written out here, not taken from the interpreter:
# ``ipaddress``'s own tables changed between Python releases (3.11.7 calls 192.0.0.192,
# 192.0.0.8, fec0::1 and 3fff::1 global), and the guard must refuse the same on every one.
# The few globally reachable anycast blocks inside 192.0.0.0/24 and 2001::/23 (PCP, TURN,
# AMT, AS112, ORCHIDv2) are refused with the rest: no webhook or photo is served from them.
# IPv4 carried inside IPv6 (mapped, compatible, NAT64, 6to4, Teredo) is checked as that IPv4 by
# the outbound guard before this table.
_PRIVATE = "a private address"
_RESERVED = "a reserved address"
NON_GLOBAL: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(block), reason)
    for block, reason in (
        ("0.0.0.0/8", "an unspecified address (this network, 0.0.0.0/8)"),
        ("10.0.0.0/8", _PRIVATE),
        ("100.64.0.0/10", f"{_PRIVATE} (shared address space, 100.64.0.0/10)"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", _PRIVATE),
        ("192.0.0.0/24", f"{_RESERVED} (IETF protocol assignments, 192.0.0.0/24)"),
        ("192.0.2.0/24", f"{_RESERVED} (documentation, 192.0.2.0/24)"),
        ("192.88.99.0/24", f"{_RESERVED} (6to4 relay anycast, deprecated)"),
        ("192.168.0.0/16", _PRIVATE),
        ("198.18.0.0/15", f"{_RESERVED} (benchmarking, 198.18.0.0/15)"),
        ("198.51.100.0/24", f"{_RESERVED} (documentation, 198.51.100.0/24)"),
        ("203.0.113.0/24", f"{_RESERVED} (documentation, 203.0.113.0/24)"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", f"{_RESERVED} (240.0.0.0/4)"),
        ("255.255.255.255/32", f"{_RESERVED} (limited broadcast)"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("::/96", f"{_RESERVED} (IPv4-compatible, deprecated)"),
        ("::ffff:0:0/96", f"{_PRIVATE} (IPv4-mapped)"),
        ("64:ff9b:1::/48", f"{_PRIVATE} (local-use IPv4/IPv6 translation)"),
        ("100::/64", f"{_RESERVED} (discard-only, 100::/64)"),
        ("100:0:0:1::/64", f"{_RESERVED} (dummy IPv6 prefix)"),
        ("2001::/23", f"{_RESERVED} (IETF protocol assignments, 2001::/23)"),
        ("2001:db8::/32", f"{_RESERVED} (documentation, 2001:db8::/32)"),
        ("2002::/16", f"{_RESERVED} (6to4)"),
        ("3fff::/20", f"{_RESERVED} (documentation, 3fff::/20)"),
        ("5f00::/16", f"{_RESERVED} (SRv6 segment identifiers, 5f00::/16)"),
        ("fc00::/7", f"{_PRIVATE} (unique local)"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", f"{_PRIVATE} (site-local, deprecated)"),
        ("ff00::/8", "a multicast address"),
    )
)
_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


def non_global_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not globally reachable by the table above, or None if it is.

    An IPv6 address outside global unicast (2000::/3, with NAT64's 64:ff9b::/96) is reserved by
    the IETF, whatever else it is.
    """
    for network, reason in NON_GLOBAL:
        if address.version == network.version and address in network:
            return reason
    if (
        isinstance(address, ipaddress.IPv6Address)
        and address not in _IPV6_GLOBAL_UNICAST
        and address not in _NAT64_WELL_KNOWN
    ):
        return f"{_RESERVED} (outside IPv6 global unicast, 2000::/3)"
    return None


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

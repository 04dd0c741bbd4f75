"""The one guard for every request Visualizer makes to a URL a person gave it.

Webhooks and photo downloads by URL go to addresses chosen by a client's members. Without a
guard, such a URL is a way from the studio into the network it runs in: Redis on loopback,
the cloud's metadata service at ``169.254.169.254``, PostgreSQL on a private address. So:

1. :func:`check_url` refuses, with :class:`~visualizer_core.errors.InvalidInput` naming the
   reason, a URL that is not ``http``/``https``, carries a user name or password, contains a
   control character or white space, or whose host resolves to any address that is not public
   (loopback, private, link-local, shared, multicast, reserved, unspecified; IPv4 inside IPv6
   as IPv4-mapped, IPv4-compatible, NAT64, 6to4 or Teredo is checked as the IPv4 it carries).
   Numeric hosts in the forms ``inet_aton`` reads (``2130706433``, ``0x7f000001``,
   ``0177.0.0.1``, ``127.1``) are read as the address they are. *Every* address a name
   resolves to must pass, not just the first.
2. :func:`pinned_client` (or :class:`PinnedTransport`) connects to the addresses that were
   checked, never resolving the name again, so a DNS answer that changes between the check and
   the connection (DNS rebinding) cannot move the request inside. The ``Host`` header and, for
   https, the TLS server name and certificate check still use the URL's host name.
3. Redirects are not followed; a request through the transport to any other origin is refused.
   A caller that wants to follow a ``Location`` checks it with :func:`check_url` again.

``VISUALIZER_PRIVATE_HOSTS_ALLOWED`` (comma-separated host names, ``*.suffix`` patterns or
CIDRs) lets tests and on-premise installs reach named private addresses; unspecified and
multicast addresses stay refused even then.
"""

from __future__ import annotations

import ipaddress
import socket
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from visualizer_core.errors import InvalidInput
from visualizer_core.private_hosts import (
    NOTHING_PRIVATE,
    NUMERIC_HOST,
    IPAddress,
    PrivateHosts,
    non_global_reason,
    parse_private_hosts,
)

__all__ = [
    "CheckedURL",
    "IPAddress",
    "PinnedTransport",
    "PrivateHosts",
    "Resolver",
    "address_problem",
    "check_url",
    "parse_private_hosts",
    "pinned_client",
    "redact",
]

Resolver = Callable[[str, int], Iterable[str]]
"""``resolve(host, port)``: the addresses (as text) a host name resolves to."""

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


# -- checking ------------------------------------------------------------------------------------


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and would reach, if it is one of those forms."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _NAT64) or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress, *, allowed: PrivateHosts = NOTHING_PRIVATE) -> str | None:
    """Why a request may not go to ``address`` (``"a loopback address"``), or None if it may."""
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if allowed.allows_address(address):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            problem = address_problem(inner, allowed=allowed)
            if problem is not None:
                return problem
    return non_global_reason(address)  # IANA's registries, not the interpreter's tables


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed :func:`check_url`, with every address its host resolved to."""

    url: str
    scheme: str
    host: str
    """The host as the request names it (IDNA-encoded, lower case), for ``Host`` and TLS."""
    port: int
    addresses: tuple[IPAddress, ...] = field(repr=False)
    """Every address the host resolved to, all checked; connections go only to these."""

    def __str__(self) -> str:
        return self.url


def _system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _current_allowed() -> PrivateHosts:
    from visualizer_core import backends  # the services' settings; imported late (layering)

    return backends.current().settings.private_hosts_allowed


def _refuse_text(url: str) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"the URL is longer than {MAX_URL_LENGTH} characters")
    for char in url:
        if char == "\\":
            raise InvalidInput("the URL contains a backslash")
        # A plain space is allowed in the path (catalogs name photos "Oak Chair.jpg"; it is sent
        # percent-encoded) but not in the host, checked below; any other space or control is not.
        if char != " " and unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp"):
            name = unicodedata.name(char, f"U+{ord(char):04X}")
            raise InvalidInput(f"the URL contains a control character or space ({name})")


def check_url(
    url: str,
    *,
    allowed: PrivateHosts | None = None,
    resolve: Resolver | None = None,
) -> CheckedURL:
    """Check ``url`` for an outbound request; raises :class:`InvalidInput` naming the reason.

    ``allowed`` defaults to ``VISUALIZER_PRIVATE_HOSTS_ALLOWED`` of the current settings;
    ``resolve`` to the system resolver.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("the URL is empty")
    _refuse_text(url)
    scheme, _, _ = url.partition(":")
    if scheme.lower() not in _DEFAULT_PORTS:
        raise InvalidInput(f"the URL must start with http:// or https:// (got {scheme[:20]!r})")
    try:
        parsed = httpx.URL(url)
        authority = urlsplit(url).netloc
    except (httpx.InvalidURL, ValueError) as error:
        raise InvalidInput(f"not a valid URL: {error}") from None
    if parsed.userinfo or "@" in authority:
        raise InvalidInput("the URL may not carry a user name or password")
    if " " in authority or url != url.strip():
        raise InvalidInput("the URL's host part contains a space")
    host = parsed.raw_host.decode("ascii").lower()
    if not host:
        raise InvalidInput("the URL has no host")
    port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
    allowed = _current_allowed() if allowed is None else allowed

    addresses = _addresses(host, port, resolve or _system_resolve)
    name_allowed = allowed.allows_name(host)
    for address in addresses:
        problem = address_problem(address, allowed=allowed)
        if problem is not None and name_allowed and problem not in _ALWAYS_REFUSED:
            problem = None
        if problem is not None:
            literal = host.strip("[]") == str(address)
            verb = "is" if literal else "resolves to"
            raise InvalidInput(
                f"the URL's host {host} {verb} {problem}; outbound requests go only to "
                "public addresses"
            )
    return CheckedURL(url=url, scheme=parsed.scheme, host=host, port=port, addresses=addresses)


_ALWAYS_REFUSED = ("an unspecified address", "a multicast address")


def _addresses(host: str, port: int, resolve: Resolver) -> tuple[IPAddress, ...]:
    bare = host.strip("[]").rstrip(".")
    try:
        return (ipaddress.ip_address(bare),)
    except ValueError:
        pass
    if NUMERIC_HOST.match(bare):  # 2130706433, 0x7f000001, 0177.0.0.1, 127.1: what they reach
        try:
            return (ipaddress.IPv4Address(socket.inet_aton(bare)),)
        except OSError:
            raise InvalidInput(f"the host {host} is not a valid IP address") from None
    try:
        found = list(resolve(bare, port))
    except (OSError, UnicodeError):
        raise InvalidInput(f"the host {host} cannot be resolved") from None
    addresses: list[IPAddress] = []
    for text in found:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise InvalidInput(f"the host {host} resolves to something that is not an IP") from None
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise InvalidInput(f"the host {host} cannot be resolved")
    return tuple(addresses)


def redact(url: str) -> str:
    """The URL without any user name or password, for showing and logging."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


# -- connecting ----------------------------------------------------------------------------------


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport that sends requests for one checked URL's origin to its addresses.

    The addresses are tried in order until one accepts the connection; the host name is never
    resolved again. ``Host`` and the TLS server name stay the URL's host. A request for any other
    scheme, host or port raises :class:`InvalidInput`.
    """

    def __init__(self, checked: CheckedURL, *, verify: Any = True, **transport: Any) -> None:
        self.checked = checked
        self._inner = httpx.HTTPTransport(verify=verify, trust_env=False, **transport)

    def _refuse_other_origin(self, url: httpx.URL) -> None:
        origin = (url.scheme, url.raw_host.decode("ascii").lower(), url.port)
        port = self.checked.port
        expected = (self.checked.scheme, self.checked.host, port)
        if origin[:2] != expected[:2] or (origin[2] or _DEFAULT_PORTS[url.scheme]) != port:
            raise InvalidInput(
                f"a request to {url.scheme}://{origin[1]} does not go to the checked host "
                f"{self.checked.host}; check that URL first"
            )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._refuse_other_origin(request.url)
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions["sni_hostname"] = self.checked.host
        last: httpx.ConnectError | None = None
        for address in self.checked.addresses:
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=str(address)),
                headers=request.headers,  # keeps Host: the URL's host name
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return self._inner.handle_request(pinned)
            except httpx.ConnectError as error:
                last = error
        assert last is not None  # a CheckedURL always has at least one address
        raise last

    def close(self) -> None:
        self._inner.close()


def pinned_client(
    checked: CheckedURL,
    *,
    timeout: float | httpx.Timeout = 10.0,
    verify: Any = True,
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """An httpx client for the checked URL's origin: pinned addresses, no redirects, no proxies.

    ``verify`` is httpx's: ``True``, or an ``ssl.SSLContext`` (tests trust their own CA).
    Environment proxies, ``.netrc`` credentials and redirects are all off.
    """
    return httpx.Client(
        transport=PinnedTransport(checked, verify=verify),
        follow_redirects=False,
        trust_env=False,
        timeout=timeout,
        headers=headers,
    )

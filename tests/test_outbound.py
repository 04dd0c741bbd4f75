"""The outbound-URL guard: what it refuses, what it lets through, and where it connects.

The servers are real (loopback HTTP and HTTPS with a certificate from a test CA); host names
that do not exist in DNS are given to the guard by an explicit resolver, so a request that
reaches the server proves the connection went to the checked address, not to a fresh lookup.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from visualizer_core import outbound
from visualizer_core.config import load_settings
from visualizer_core.errors import ConfigError, InvalidInput
from visualizer_core.outbound import check_url, parse_private_hosts, pinned_client

NOTHING = parse_private_hosts(None)
LOOPBACK_ALLOWED = parse_private_hosts("127.0.0.0/8")


def resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> outbound.Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


PUBLIC = resolver(
    {"hooks.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]}
)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:6379/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:5432/", "loopback"),
        ("http://0x7f000001/", "loopback"),
        ("http://2130706433/", "loopback"),
        ("http://0177.0.0.1/", "IPv4"),  # httpx refuses leading zeros outright
        ("http://127.1/", "loopback"),
        ("http://0/", "unspecified"),
        ("http://0.0.0.0:8501/", "unspecified"),
        ("http://10.0.0.1/", "private"),
        ("http://172.16.3.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://100.64.0.1/", "private"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://255.255.255.255/", "reserved"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/", "link-local"),
        ("http://[::127.0.0.1]/", "loopback"),
        ("http://[2002:7f00:1::]/", "loopback"),
        ("http://[2002:a00:1::]/", "private"),
        ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),
        ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "loopback"),  # Teredo to 127.0.0.1
        ("http://[fe80::1]/", "link-local"),
        ("http://[fc00::1]/", "private"),
        ("http://[ff02::1]/", "multicast"),
        ("http://[::]/", "unspecified"),
        # issue 24, finding 7: special-purpose blocks that Python 3.11.7's tables call global
        ("http://192.0.0.192/", "reserved"),
        ("http://192.0.0.8/", "reserved"),
        ("http://[fec0::1]/", "private"),
        ("http://[3fff::1]/", "reserved"),
        ("http://198.18.0.1/", "reserved"),
        ("http://203.0.113.9/", "reserved"),
        ("http://[2001:db8::1]/", "reserved"),
        ("http://[100::1]/", "reserved"),
        ("http://[5f00::1]/", "reserved"),
        ("http://[4000::1]/", "outside IPv6 global unicast"),
        ("http://localhost:5432/", "loopback"),
        ("https://user:pw@10.0.0.1/", "user name or password"),
        ("https://user@hooks.example.com/", "user name or password"),
        ("https://:@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "control character"),
        ("https://hooks.example.com/a\nb", "control character"),
        ("https://hooks.exa\x00mple.com/", "control character"),
        ("https://hooks.example.com/\u200b", "control character"),
        ("https://hooks.example.com /", "space"),
        ("https://hooks .example.com/", "space"),
        ("https://hooks.example.com/a\u00a0b", "control character or space"),
        ("https://hooks.example.com\\@127.0.0.1/", "backslash"),
        ("ftp://hooks.example.com/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://127.0.0.1:6379/_INFO", "http:// or https://"),
        ("//hooks.example.com/", "http:// or https://"),
        ("https:///path", "no host"),
        ("https://no-such-host.example.invalid/", "cannot be resolved"),
        ("", "empty"),
        ("https://hooks.example.com/" + "a" * 3000, "longer than"),
    ],
)
def test_a_url_into_the_network_is_refused_naming_why(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_url(url, allowed=NOTHING, resolve=resolver({"localhost": ["127.0.0.1", "::1"]}))
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_special_purpose_table_decides_whatever_the_interpreter_thinks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guard reads IANA's registries from its own table: with ``ipaddress`` claiming every
    address is global and none private, the special-purpose blocks are still refused and a
    public address still passes."""
    import ipaddress

    for cls in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        for name in ("is_global", "is_private", "is_reserved", "is_link_local", "is_loopback"):
            monkeypatch.setattr(cls, name, property(lambda self, _n=name: _n == "is_global"))
    for address in ("192.0.0.192", "192.0.0.8", "10.1.2.3", "127.0.0.1", "fec0::1", "3fff::1"):
        assert outbound.address_problem(ipaddress.ip_address(address)) is not None, address
    for address in ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"):
        assert outbound.address_problem(ipaddress.ip_address(address)) is None, address


def test_a_space_in_the_path_is_sent_encoded(server: Server) -> None:
    """Catalogs name photos "Oak Chair.jpg"; such a URL is fine, its host is what matters."""
    checked = check_url(
        f"http://127.0.0.1:{server.port}/photos/Oak Chair.jpg", allowed=LOOPBACK_ALLOWED
    )
    with pinned_client(checked) as client:
        assert client.get(checked.url).status_code == 200


def test_every_address_a_name_resolves_to_is_checked_not_only_the_first() -> None:
    mixed = resolver({"mixed.example.com": ["93.184.215.14", "10.0.0.5"]})
    with pytest.raises(InvalidInput, match="private"):
        check_url("https://mixed.example.com/hook", allowed=NOTHING, resolve=mixed)


def test_a_resolved_address_is_not_named_in_the_refusal() -> None:
    """The owner learns that the name is internal, not the layout of the internal network."""
    inside = resolver({"db.corp.example": ["10.20.30.40"]})
    with pytest.raises(InvalidInput) as caught:
        check_url("https://db.corp.example/", allowed=NOTHING, resolve=inside)
    assert "10.20.30.40" not in str(caught.value)


def test_a_public_url_passes_with_every_address_it_resolves_to() -> None:
    checked = check_url("https://Hooks.Example.com/v1/hook?x=1", allowed=NOTHING, resolve=PUBLIC)
    assert checked.scheme == "https"
    assert checked.host == "hooks.example.com"
    assert checked.port == 443
    assert [str(a) for a in checked.addresses] == [
        "93.184.215.14",
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
    ]
    assert str(checked) == "https://Hooks.Example.com/v1/hook?x=1"


def test_the_allow_list_opens_named_hosts_and_networks_only() -> None:
    allowed = parse_private_hosts("hooks.internal, *.corp.example, 127.0.0.1/32")
    table = resolver(
        {
            "hooks.internal": ["10.1.2.3"],
            "build.corp.example": ["10.9.9.9"],
            "other.internal": ["10.1.2.4"],
            "bad.corp.example": ["0.0.0.0"],
        }
    )
    assert check_url("http://hooks.internal:8080/", allowed=allowed, resolve=table).port == 8080
    assert check_url("https://build.corp.example/", allowed=allowed, resolve=table)
    assert check_url("http://127.0.0.1:9/", allowed=allowed, resolve=table)
    for refused in ("http://other.internal/", "http://127.0.0.2/", "http://[::1]/"):
        with pytest.raises(InvalidInput):
            check_url(refused, allowed=allowed, resolve=table)
    with pytest.raises(InvalidInput, match="unspecified"):  # never, even for an allowed name
        check_url("http://bad.corp.example/", allowed=allowed, resolve=table)


def test_a_malformed_allow_list_stops_start_up_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(visualizer_home=tmp_path, visualizer_private_hosts_allowed="10.0.0.0/8, a b")
    assert "VISUALIZER_PRIVATE_HOSTS_ALLOWED" in str(caught.value)
    assert "'a b'" in str(caught.value)
    assert "\n" not in str(caught.value)
    settings = load_settings(
        visualizer_home=tmp_path, visualizer_private_hosts_allowed="10.0.0.0/8,hooks.internal"
    )
    assert settings.private_hosts_allowed.allows_name("HOOKS.internal")


# -- connecting to what was checked ---------------------------------------------------------------


@dataclass
class Server:
    """An HTTP(S) server on loopback that records each request and answers with ``answer``."""

    answer: tuple[int, dict[str, str]] = (200, {})
    seen: list[dict[str, str]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.httpd is not None
        return int(self.httpd.server_address[1])

    def start(self, context: ssl.SSLContext | None = None) -> Server:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                server.seen.append({k.lower(): v for k, v in self.headers.items()})
                status, headers = server.answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            context.sni_callback = lambda sock, name, ctx: self.sni.append(name)  # type: ignore[assignment]
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    started = Server().start()
    yield started
    started.stop()


def test_the_connection_goes_to_the_checked_address_without_resolving_again(
    server: Server,
) -> None:
    """``hooks.example.test`` is in no DNS: only the pinned address can have reached the server."""
    calls: list[str] = []
    table = resolver({"hooks.example.test": ["127.0.0.1"]}, calls)
    checked = check_url(
        f"http://hooks.example.test:{server.port}/hook", allowed=LOOPBACK_ALLOWED, resolve=table
    )
    with pinned_client(checked) as client:
        first = client.post(checked.url, content=b"{}")
        second = client.post(checked.url, content=b"{}")
    assert (first.status_code, second.status_code) == (200, 200)
    assert calls == ["hooks.example.test"]  # once, at the check; never at connect time
    assert [seen["host"] for seen in server.seen] == [f"hooks.example.test:{server.port}"] * 2


def test_the_next_checked_address_is_tried_when_one_refuses(server: Server) -> None:
    table = resolver({"hooks.example.test": ["127.0.0.2", "127.0.0.1"]})
    checked = check_url(
        f"http://hooks.example.test:{server.port}/", allowed=LOOPBACK_ALLOWED, resolve=table
    )
    # 127.0.0.2 is loopback too, but nothing listens there on that port (server binds 127.0.0.1)
    with pinned_client(checked) as client:
        assert client.get(checked.url).status_code == 200


def test_redirects_are_not_followed_and_other_origins_are_refused(server: Server) -> None:
    inner = Server().start()
    try:
        server.answer = (302, {"Location": f"http://127.0.0.1:{inner.port}/"})
        checked = check_url(f"http://127.0.0.1:{server.port}/", allowed=LOOPBACK_ALLOWED)
        with pinned_client(checked) as client:
            response = client.get(checked.url)
            assert response.status_code == 302
            assert inner.seen == []
            with pytest.raises(InvalidInput, match="check that URL first"):
                client.get(f"http://127.0.0.1:{inner.port}/")
            with pytest.raises(InvalidInput, match="check that URL first"):
                client.get(checked.url, follow_redirects=True)
        assert inner.seen == []
    finally:
        inner.stop()


def test_https_keeps_the_host_name_for_sni_and_the_certificate(tmp_path: Path) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("hooks.example.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    tls = Server().start(context)
    try:
        table = resolver({"hooks.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]})
        trust = ssl.create_default_context()
        authority.configure_trust(trust)
        checked = check_url(
            f"https://hooks.example.test:{tls.port}/hook", allowed=LOOPBACK_ALLOWED, resolve=table
        )
        with pinned_client(checked, verify=trust) as client:
            assert client.post(checked.url, content=b"{}").status_code == 200
        assert tls.sni == ["hooks.example.test"]
        assert tls.seen[0]["host"] == f"hooks.example.test:{tls.port}"
        # a name the certificate does not cover fails verification even though the IP is the same
        wrong = check_url(
            f"https://other.example.test:{tls.port}/", allowed=LOOPBACK_ALLOWED, resolve=table
        )
        with pinned_client(wrong, verify=trust) as client, pytest.raises(httpx.ConnectError):
            client.get(wrong.url)
    finally:
        tls.stop()

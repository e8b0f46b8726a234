"""Where the mock may connect: the address policy, checked on the address actually connected.

Every outgoing connection (input fetches, each redirect hop, webhooks) goes through
``GuardedNetwork``, an httpcore network backend: it resolves the host once, refuses the connection
if ANY resolved address is forbidden, and connects to one of the addresses it checked. So a name
that answers a harmless address to a first lookup and a forbidden one to a second (DNS rebinding)
cannot slip between the check and the connect: there is only one lookup. TLS still verifies and
sends the URL's host name (httpcore takes the server name from the request, not the socket), and
the Host header is the URL's.

The ranges (one table, ``RANGES``), for IPv4 and every IPv6 form that embeds an IPv4 address
(IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96`` and
``64:ff9b:1::/48``, 6to4 ``2002::/16``, Teredo ``2001::/32``), whose embedded address is judged too:

- always refused: "this network" 0.0.0.0/8 and ::, link-local (169.254/16, fe80::/10) where the cloud
  metadata services live (169.254.169.254 for AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle;
  fd00:ec2::254 AWS over IPv6; 100.100.100.200 Alibaba, inside CGNAT), multicast, broadcast,
  and the reserved 240/4;
- refused unless ``allow_private`` (``serve --allow-fetch``): RFC 1918, carrier-grade NAT
  100.64/10, unique-local fc00::/7, benchmarking 198.18/15, the IETF and documentation ranges;
  the metadata addresses stay refused even then;
- allowed: loopback (127/8, ::1: the mock's own media and a developer's local servers) and the rest.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from mockserver.engine.errors import FetchError, ForbiddenAddress

__all__ = ["RANGES", "GuardedNetwork", "embedded_ipv4", "guarded_transport", "refusal"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ALWAYS, PRIVATE = "always", "private"
_METADATA = ("169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200/32")

RANGES: tuple[tuple[Network, str, str], ...] = tuple(
    (ipaddress.ip_network(net), rule, why)
    for net, rule, why in (
        *((m, ALWAYS, "a cloud metadata service") for m in _METADATA),
        ("0.0.0.0/8", ALWAYS, '"this network"'),
        ("169.254.0.0/16", ALWAYS, "link-local"),
        ("224.0.0.0/4", ALWAYS, "multicast"),
        ("240.0.0.0/4", ALWAYS, "reserved"),  # includes the broadcast 255.255.255.255
        ("::/128", ALWAYS, "unspecified"),
        ("fe80::/10", ALWAYS, "link-local"),
        ("ff00::/8", ALWAYS, "multicast"),
        ("10.0.0.0/8", PRIVATE, "private (RFC 1918)"),
        ("172.16.0.0/12", PRIVATE, "private (RFC 1918)"),
        ("192.168.0.0/16", PRIVATE, "private (RFC 1918)"),
        ("100.64.0.0/10", PRIVATE, "carrier-grade NAT"),
        ("192.0.0.0/24", PRIVATE, "IETF protocol assignments"),
        ("192.0.2.0/24", PRIVATE, "documentation"),
        ("198.51.100.0/24", PRIVATE, "documentation"),
        ("203.0.113.0/24", PRIVATE, "documentation"),
        ("198.18.0.0/15", PRIVATE, "benchmarking"),
        ("fc00::/7", PRIVATE, "unique-local"),
        ("2001:db8::/32", PRIVATE, "documentation"),
        ("100::/64", PRIVATE, "discard-only"),
    )
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_6TO4 = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")
_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4, Teredo), if any."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]  # the client's address (stored inverted, undone by ipaddress)
    low32 = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if any(addr in net for net in _NAT64):
        return low32
    if addr in _COMPATIBLE and int(addr) > 1:  # ::a.b.c.d, but not :: or ::1
        return low32
    return None


def refusal(addr: Address, allow_private: bool = False) -> str | None:
    """Why connecting to `addr` is refused (None: allowed). IPv6 forms of IPv4 addresses are judged
    as the IPv4 address too; the stricter verdict wins."""
    candidates: list[Address] = [addr]
    if isinstance(addr, ipaddress.IPv6Address) and (inner := embedded_ipv4(addr)) is not None:
        candidates.append(inner)
    for candidate in candidates:
        if candidate.is_loopback:
            continue
        for net, rule, why in RANGES:
            if candidate.version == net.version and candidate in net and (rule == ALWAYS or not allow_private):
                hint = "" if rule == ALWAYS else " (see --allow-fetch)"
                return f"connecting to {candidate} ({why}) is not allowed{hint}"
    return None


async def _resolve(host: str, port: int) -> list[Address]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"could not resolve host {host!r}: {exc}") from None
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))


class GuardedNetwork(httpcore.AsyncNetworkBackend):
    """httpcore's default network, with the address policy applied to the addresses it connects to.

    A refused address raises ForbiddenAddress (an engine MediaError: the provider's own error), and
    no socket is opened for it.
    """

    def __init__(self, allow_private: bool = False, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.allow_private = allow_private
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await _resolve(host, port)
        for addr in addresses:
            if (why := refusal(addr, self.allow_private)) is not None:
                raise ForbiddenAddress(why)
        last: Exception = FetchError(f"could not resolve host {host!r}")
        for addr in addresses:
            try:
                return await self._inner.connect_tcp(str(addr), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise ForbiddenAddress("unix sockets are not reachable from the mock")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(allow_private: bool = False) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through GuardedNetwork (no proxies)."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(  # httpx builds its pool without a network backend hook
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=GuardedNetwork(allow_private),
    )
    return transport

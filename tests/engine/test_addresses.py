"""The address policy as a table: every form of every range (engine/addresses.py)."""

from __future__ import annotations

import ipaddress

import pytest

from mockserver.engine.addresses import embedded_ipv4, refusal

ALWAYS = [
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle metadata
    "fd00:ec2::254",  # AWS metadata over IPv6
    "100.100.100.200",  # Alibaba metadata (inside CGNAT)
    "169.254.0.1",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "240.0.0.1",
    "::",
    "fe80::1",
    "ff02::1",
    # IPv6 forms of forbidden IPv4 addresses
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::169.254.169.254",  # IPv4-compatible
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64
    "2002:a9fe:a9fe::1",  # 6to4
    "2001:0:4136:e378:8000:63bf:5601:5601",  # Teredo, client 169.254.169.254 (inverted)
    "::ffff:0.0.0.0",
]
PRIVATE = [
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "100.127.255.254",
    "198.18.0.1",
    "192.0.2.1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:10.1.2.3",
    "::ffff:192.168.0.1",
    "64:ff9b::a01:203",  # NAT64 of 10.1.2.3
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
]
ALLOWED = ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "8.8.8.8", "2606:4700::1111", "172.32.0.1"]


@pytest.mark.parametrize("address", ALWAYS)
@pytest.mark.parametrize("allow_private", [False, True])
def test_always_refused(address: str, allow_private: bool) -> None:
    why = refusal(ipaddress.ip_address(address), allow_private)
    assert why is not None and "--allow-fetch" not in why


@pytest.mark.parametrize("address", PRIVATE)
def test_private_refused_unless_allowed(address: str) -> None:
    why = refusal(ipaddress.ip_address(address))
    assert why is not None and "--allow-fetch" in why
    assert refusal(ipaddress.ip_address(address), allow_private=True) is None


@pytest.mark.parametrize("address", ALLOWED)
def test_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("v6", "v4"),
    [
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("::1.2.3.4", "1.2.3.4"),
        ("64:ff9b::102:304", "1.2.3.4"),
        ("2002:102:304::", "1.2.3.4"),
        ("2001:0:4136:e378:8000:63bf:fefd:fcfb", "1.2.3.4"),
        ("::1", None),
        ("2606:4700::1111", None),
    ],
)
def test_embedded_ipv4(v6: str, v4: str | None) -> None:
    found = embedded_ipv4(ipaddress.IPv6Address(v6))
    assert (str(found) if found else None) == v4

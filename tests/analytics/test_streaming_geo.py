"""IP → country from the bundled offline table; anything not publicly routable is unknown."""

from __future__ import annotations

import pytest
from iptocc import country_code

from callscope.analytics.streaming import UNKNOWN, Basis, country_of_ip, place

# Registry assignments that have not moved in decades (and that the package's own docs use).
PINNED = {
    "8.8.8.8": "US",  # Google public DNS, ARIN
    "1.0.16.1": "JP",  # APNIC block delegated to Japan
    "193.0.6.139": "NL",  # RIPE NCC's own network, Amsterdam
    "2001:4860:4860::8888": "US",  # Google public DNS over IPv6
}


@pytest.mark.parametrize(("ip", "country"), sorted(PINNED.items()))
def test_well_known_addresses_have_their_registered_country(ip: str, country: str) -> None:
    assert country_of_ip(ip) == country


@pytest.mark.parametrize("ip", ["200.160.2.3", "41.0.0.1", "81.2.69.1", "2001:67c:2e8::1", "1.1.1.1"])
def test_public_addresses_agree_with_the_bundled_table(ip: str) -> None:
    expected = country_code(ip)
    assert expected is not None and len(expected) == 2
    assert country_of_ip(ip) == expected.upper()


@pytest.mark.parametrize(
    "ip",
    [
        "10.0.0.1",  # private
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",  # loopback
        "::1",
        "169.254.1.1",  # link-local
        "fe80::1",
        "100.64.0.1",  # carrier-grade NAT
        "198.18.0.1",  # benchmarking (our media tests' veth addresses)
        "192.0.2.1",  # documentation
        "fc00::1",  # unique local
        "0.0.0.0",
    ],
)
def test_addresses_that_are_not_publicly_routable_are_unknown(ip: str) -> None:
    assert country_of_ip(ip) == UNKNOWN


@pytest.mark.parametrize("ip", ["", "not-an-ip", "256.1.1.1", "8.8.8.8/32", "1.2.3"])
def test_malformed_addresses_are_unknown(ip: str) -> None:
    assert country_of_ip(ip) == UNKNOWN


def test_ipv4_mapped_ipv6_is_looked_up_as_ipv4() -> None:
    assert country_of_ip("::ffff:8.8.8.8") == "US"
    assert country_of_ip("::ffff:10.0.0.1") == UNKNOWN


def test_the_ip_decides_and_the_reported_country_only_fills_in() -> None:
    assert place("8.8.8.8", "FR", "Paris") == place("8.8.8.8", "FR", "Paris")
    by_ip = place("8.8.8.8", "FR", "Paris")
    assert (by_ip.country, by_ip.city, by_ip.basis) == ("US", "", Basis.GEOIP)  # city of another country
    agreeing = place("193.0.6.139", "nl", "Amsterdam")
    assert (agreeing.country, agreeing.city, agreeing.basis) == ("NL", "Amsterdam", Basis.GEOIP)
    private = place("10.0.0.7", "de", "Berlin")
    assert (private.country, private.city, private.basis) == ("DE", "Berlin", Basis.REPORTED)
    for reported in ("", "Germany", "D1", "ÄÖ"):
        nothing = place("192.168.0.2", reported, "Berlin")
        assert (nothing.country, nothing.city, nothing.basis) == (UNKNOWN, "", Basis.NONE)

"""Where a participant connects from: client IP → ISO 3166-1 alpha-2 country, offline.

The lookup table is the one bundled in the `iptocc` wheel (the five Regional Internet
Registries' delegation files, refreshed with each release): no file to download, no network
call, ever. It gives the country the block is *registered* to, which agrees with commercial
GeoIP databases for ~95 % of IPv4 addresses; it has no city data (see docs/streaming.md).

Addresses that are not globally routable (private, loopback, link-local, CGNAT, documentation
and benchmarking ranges) have no country: they are `UNKNOWN`, as are malformed addresses and
blocks no registry lists. Only then does the country the client reported on `join` count, and
only if it is shaped like an alpha-2 code.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from iptocc import country_code

UNKNOWN = "unknown"
SOURCE = "iptocc (RIR delegation data)"


class Basis(StrEnum):
    """How a session's country was decided."""

    GEOIP = "geoip"  # public IP found in the bundled table
    REPORTED = "reported"  # no usable IP; the client's own `country` on join
    NONE = "none"  # nothing to go on: UNKNOWN


@dataclass(frozen=True, slots=True)
class Place:
    country: str  # alpha-2, upper case, or UNKNOWN
    city: str  # as reported by the client on join; "" when not known
    basis: Basis


def country_of_ip(ip: str) -> str:
    """The alpha-2 country of a public IP address; UNKNOWN for anything else."""
    return _lookup(ip.strip())


@lru_cache(maxsize=65_536)
def _lookup(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_global:
        return UNKNOWN
    found = country_code(str(address))
    return found.upper() if found else UNKNOWN


def place(ip: str, reported_country: str = "", reported_city: str = "") -> Place:
    """A session's place from its join attributes: the IP decides the country when it can."""
    country = country_of_ip(ip) if ip else UNKNOWN
    reported = reported_country.strip().upper()
    if country != UNKNOWN:
        # A city reported with another country than the IP's belongs to neither answer.
        city = reported_city.strip() if reported in ("", country) else ""
        return Place(country, city, Basis.GEOIP)
    if len(reported) == 2 and reported.isascii() and reported.isalpha():
        return Place(reported, reported_city.strip(), Basis.REPORTED)
    return Place(UNKNOWN, "", Basis.NONE)

"""Who the simulated participants are: device, platform, SDK, network and place."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

# (platform, os, browser, device, sdk_name, sdk_type); native apps have no browser.
PLATFORMS = [
    ("web", "Windows 11", "Chrome 126", "Dell XPS 13", "callscope-js", "webrtc"),
    ("web", "macOS 14", "Safari 17", "MacBook Air", "callscope-js", "webrtc"),
    ("web", "Ubuntu 24.04", "Firefox 127", "ThinkPad T14", "callscope-js", "webrtc"),
    ("android", "Android 14", "", "Pixel 8", "callscope-android", "native"),
    ("ios", "iOS 17.5", "", "iPhone 15", "callscope-ios", "native"),
]
SDK_VERSION = "0.1.0"
# (region, country, city, isp, address prefix): documentation ranges (RFC 5737, RFC 3849).
PLACES = [
    ("EU", "DE", "Frankfurt", "Deutsche Telekom", "198.51.100."),
    ("NA", "US", "Ashburn", "Comcast", "203.0.113."),
    ("AP", "SG", "Singapore", "Singtel", "192.0.2."),
    ("AP", "IN", "Mumbai", "Jio", "2001:db8:91::"),
    ("SA", "BR", "São Paulo", "Vivo", "2001:db8:55::"),
]
# Baseline impairment of each network type (1 = a good home Wi-Fi).
NETWORK_FACTORS = {"ethernet": 0.8, "wifi": 1.0, "5g": 1.2, "4g": 1.6}


@dataclass(frozen=True)
class Client:
    """Session attributes, named as the `join` event carries them."""

    device: str
    platform: str
    os: str
    browser: str
    sdk_name: str
    sdk_version: str
    sdk_type: str
    network_type: str
    ip: str
    region: str
    country: str
    city: str
    isp: str

    def attributes(self) -> dict[str, str]:
        return asdict(self)


def draw_client(rng: random.Random) -> tuple[Client, float]:
    """A participant's device, software and place, and how impaired its network is (1 = good)."""
    platform, os_name, browser, device, sdk_name, sdk_type = rng.choice(PLATFORMS)
    region, country, city, isp, prefix = rng.choice(PLACES)
    mobile = platform in ("android", "ios")
    network = rng.choice(["wifi", "4g", "5g"] if mobile else ["wifi", "wifi", "ethernet"])
    host = f"{rng.randint(1, 0xFFFF):x}" if ":" in prefix else str(rng.randint(1, 254))
    client = Client(
        device=device,
        platform=platform,
        os=os_name,
        browser=browser,
        sdk_name=sdk_name,
        sdk_version=SDK_VERSION,
        sdk_type=sdk_type,
        network_type=network,
        ip=prefix + host,
        region=region,
        country=country,
        city=city,
        isp=isp,
    )
    bad = rng.random() < 0.15  # a congested network: worse baseline, episodes hurt more
    factor = NETWORK_FACTORS[network] * (rng.uniform(2.0, 3.0) if bad else rng.uniform(0.9, 1.1))
    return client, round(factor, 3)

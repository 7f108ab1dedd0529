"""Payload builders and small helpers shared by tests."""

from __future__ import annotations

import itertools
import time
from typing import Any

_counter = itertools.count()


def now_ms() -> int:
    return int(time.time() * 1000)


def sample(**overrides: Any) -> dict[str, Any]:
    """A valid downlink video sample; every call gets a distinct timestamp."""
    base: dict[str, Any] = {
        "room_id": "room-1",
        "user_id": "alice",
        "session_id": "sess-alice-1",
        "ts": now_ms() - 60_000 + next(_counter) % 50_000,
        "kind": "video",
        "direction": "down",
        "peer_id": "bob",
        "window_ms": 5000,
        "bitrate_kbps": 1200.5,
        "rtt_ms": 42.0,
        "jitter_ms": 3.5,
        "loss_ratio": 0.01,
        "width_px": 1280,
        "height_px": 720,
        "fps": 29.5,
    }
    base.update(overrides)
    return base


def event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "room_id": "room-1",
        "user_id": "alice",
        "session_id": "sess-alice-1",
        "ts": now_ms() - 60_000 + next(_counter) % 50_000,
        "type": "join",
        "platform": "web",
        "network_type": "wifi",
    }
    base.update(overrides)
    return base


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}

"""Rooms of participants who join, publish, receive, toggle devices and leave.

Every participant gets an ingest token from the app's backend role (the secret key stays here),
then reports events and 5-second samples exactly as the browser SDK would.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

WINDOW_S = 5
PLATFORMS = [("Windows", "Chrome"), ("macOS", "Safari"), ("Android", "Chrome"), ("iOS", "Safari")]
NETWORKS = ["wifi", "ethernet", "4g", "5g"]
PLACES = [
    ("EU", "DE", "Frankfurt", "Deutsche Telekom"),
    ("NA", "US", "Ashburn", "Comcast"),
    ("AP", "SG", "Singapore", "Singtel"),
    ("AP", "IN", "Mumbai", "Jio"),
]


@dataclass
class Participant:
    room_id: str
    user_id: str
    session_id: str
    rng: random.Random
    quality: float  # 1 = pristine network, larger = worse
    token: str = ""
    camera_on: bool = True
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrafficPlan:
    rooms: int = 3
    users_per_room: int = 3
    seed: int = 7


def _sample(p: Participant, ts_ms: int, kind: str, direction: str, peer: str) -> dict[str, Any]:
    rng, q = p.rng, p.quality
    video = kind == "video"
    sample: dict[str, Any] = {
        "room_id": p.room_id,
        "user_id": p.user_id,
        "session_id": p.session_id,
        "ts": ts_ms,
        "kind": kind,
        "direction": direction,
        "peer_id": peer,
        "window_ms": WINDOW_S * 1000,
        "bitrate_kbps": round(rng.uniform(900, 1500) / q if video else rng.uniform(28, 40), 1),
        "rtt_ms": round(rng.uniform(20, 60) * q, 1),
        "jitter_ms": round(rng.uniform(2, 8) * q, 2),
        "loss_ratio": round(min(1.0, rng.uniform(0, 0.01) * q), 4),
    }
    if video:
        height = 720 if q < 1.5 else 360
        sample.update(width_px=height * 16 // 9, height_px=height, fps=round(rng.uniform(24, 30) / q, 1))
    return sample


def _join_event(p: Participant, ts_ms: int) -> dict[str, Any]:
    rng = p.rng
    os_name, browser = rng.choice(PLATFORMS)
    region, country, city, isp = rng.choice(PLACES)
    return {
        "room_id": p.room_id,
        "user_id": p.user_id,
        "session_id": p.session_id,
        "ts": ts_ms,
        "type": "join",
        "platform": "web",
        "os": os_name,
        "browser": browser,
        "sdk_name": "callscope-js",
        "sdk_version": "0.1.0",
        "sdk_type": "webrtc",
        "network_type": rng.choice(NETWORKS),
        "ip": f"198.51.100.{rng.randint(1, 254)}",
        "region": region,
        "country": country,
        "city": city,
        "isp": isp,
    }


class TrafficGenerator:
    def __init__(self, base_url: str, app_id: str, api_key: str, plan: TrafficPlan) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=30)
        self._app_id = app_id
        self._api_key = api_key
        self._rng = random.Random(plan.seed)  # noqa: S311 - synthetic data, not security
        self.participants = [
            Participant(
                room_id=f"room-{r:03d}",
                user_id=f"user-{r:03d}-{u}",
                session_id=f"s-{plan.seed}-{r}-{u}",
                rng=random.Random(self._rng.random()),  # noqa: S311
                quality=1.0 if self._rng.random() < 0.8 else self._rng.uniform(2, 4),
            )
            for r in range(plan.rooms)
            for u in range(plan.users_per_room)
        ]

    def close(self) -> None:
        self._client.close()

    def _post(self, path: str, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self._client.post(path, json=payload, headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def join_all(self, ts_ms: int) -> None:
        for p in self.participants:
            p.token = self._post(
                f"/v1/apps/{self._app_id}/ingest-tokens",
                self._api_key,
                {"room_id": p.room_id, "user_id": p.user_id},
            )["token"]
            self._post("/v1/ingest/events", p.token, {"events": [_join_event(p, ts_ms)]})

    def tick(self, ts_ms: int) -> int:
        """One window for everyone: samples (and the odd camera toggle). Returns samples sent."""
        sent = 0
        for p in self.participants:
            peers = [o.user_id for o in self.participants if o.room_id == p.room_id and o is not p]
            samples = [_sample(p, ts_ms, "audio", "up", "")]
            if p.camera_on:
                samples.append(_sample(p, ts_ms, "video", "up", ""))
            for peer in peers:
                samples += [
                    _sample(p, ts_ms, "audio", "down", peer),
                    _sample(p, ts_ms, "video", "down", peer),
                ]
            events = []
            if p.rng.random() < 0.02:
                p.camera_on = not p.camera_on
                events.append(
                    {
                        "room_id": p.room_id,
                        "user_id": p.user_id,
                        "session_id": p.session_id,
                        "ts": ts_ms,
                        "type": "camera_on" if p.camera_on else "camera_off",
                    }
                )
            self._post("/v1/ingest/samples", p.token, {"samples": samples})
            if events:
                self._post("/v1/ingest/events", p.token, {"events": events})
            sent += len(samples)
        return sent

    def leave_all(self, ts_ms: int) -> None:
        for p in self.participants:
            self._post(
                "/v1/ingest/events",
                p.token,
                {
                    "events": [
                        {
                            "room_id": p.room_id,
                            "user_id": p.user_id,
                            "session_id": p.session_id,
                            "ts": ts_ms,
                            "type": "leave",
                            "reason": "hangup",
                        }
                    ]
                },
            )


def run_live(
    generator: TrafficGenerator,
    *,
    windows: int | None,
    stop: Callable[[], bool],
    on_tick: Callable[[int], None] | None = None,
) -> int:
    """Send one window every WINDOW_S seconds of wall time, for `windows` windows or until stopped."""
    generator.join_all(int(time.time() * 1000))
    done = 0
    while (windows is None or done < windows) and not stop():
        sent = generator.tick(int(time.time() * 1000))
        done += 1
        if on_tick:
            on_tick(sent)
        deadline = time.monotonic() + WINDOW_S
        while time.monotonic() < deadline and not stop():
            time.sleep(0.2)
    generator.leave_all(int(time.time() * 1000))
    return done

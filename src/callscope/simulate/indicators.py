"""Ground truth of the run-wide quality indicators, from what the server accepted.

Computed here from the simulator's own knowledge (the plan's attempt and join times, the exact
values it sent), not by asking the store, so `tests/simulate` can hold the metric catalog to
it. One bucket: the whole run (the query's interval=total over the run's window).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from callscope.simulate.scenario import SessionPlan

WITHIN_MS = 5000  # join_success_within_5s
MEDIA = {"video": ("video", "screen"), "audio": ("audio",)}
_SENT_KINDS = ("audio", "video", "screen")


@dataclass
class _Mean:
    total: float = 0.0
    count: int = 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1

    @property
    def value(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass
class Indicators:
    types: Counter[str] = field(default_factory=Counter)
    joins_within: int = 0
    first_frames: dict[str, _Mean] = field(default_factory=lambda: defaultdict(_Mean))
    access_rtt: dict[str, _Mean] = field(default_factory=lambda: defaultdict(_Mean))  # by user
    jitter: dict[tuple[str, str], _Mean] = field(default_factory=lambda: defaultdict(_Mean))  # media, user
    # (media, receiver, publisher) → received windows with a jitter measurement
    weights: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def event(self, plan: SessionPlan, item: dict[str, Any], origin_ms: int) -> None:
        kind = item["type"]
        self.types[kind] += 1
        if kind == "join":
            # From the user's first attempt at this meeting, a failed one included.
            wait_ms = item["ts"] - (origin_ms + plan.first_attempt_ms)
            self.joins_within += wait_ms <= WITHIN_MS
        elif kind.startswith("first_"):
            self.first_frames[kind].add(item["elapsed_ms"])

    def sample(self, item: dict[str, Any]) -> None:
        kind, direction, user = item["kind"], item.get("direction", "none"), item["user_id"]
        if "rtt_ms" in item and (kind == "connection" or (direction == "up" and kind in _SENT_KINDS)):
            self.access_rtt[user].add(item["rtt_ms"])
        if direction != "down" or "jitter_ms" not in item:
            return
        for media, kinds in MEDIA.items():
            if kind in kinds:
                self.jitter[(media, user)].add(item["jitter_ms"])
                self.weights[(media, user, item["peer_id"])] += 1

    def _ratio(self, ok: str, failed: str) -> float | None:
        attempts = self.types[ok] + self.types[failed]
        return self.types[ok] / attempts if attempts else None

    def _e2e_ms(self, media: str) -> float | None:
        delays = []
        for (m, user), jitter in self.jitter.items():
            own = self.access_rtt[user].value if user in self.access_rtt else None
            if m != media or own is None:
                continue
            legs = [
                (n, self.access_rtt[peer].value)
                for (mm, receiver, peer), n in self.weights.items()
                if (mm, receiver) == (media, user) and peer in self.access_rtt
            ]
            weight = sum(n for n, _ in legs)
            uplink = sum(n * rtt for n, rtt in legs if rtt is not None) / weight if weight else own
            delays.append(own / 2 + uplink / 2 + 2 * (jitter.value or math.nan))
        return statistics.median(delays) if delays else None

    def to_json(self) -> dict[str, float | None]:
        attempts = self.types["join"] + self.types["join_failed"]
        return {
            "join_success_rate": self._ratio("join", "join_failed"),
            "join_success_within_5s": self.joins_within / attempts if attempts else None,
            "push_success_rate": self._ratio("publish", "publish_failed"),
            "pull_success_rate": self._ratio("subscribe", "subscribe_failed"),
            "first_video_frame_ms": self.first_frames["first_video_frame"].value,
            "first_audio_frame_ms": self.first_frames["first_audio_frame"].value,
            "e2e_video_delay_ms": self._e2e_ms("video"),
            "e2e_audio_delay_ms": self._e2e_ms("audio"),
        }

"""A seeded plan of simulated calls: who joins which room when, on what, and what goes wrong.

Pure: no network, no clock. Times are milliseconds from the start of the simulation, so one
config (seed included) always gives the same plan; `traffic` maps offsets to wall-clock time.

Each room holds one meeting, or two with a gap between them (two room instances). Every meeting
has an *anchor* participant who joins first and stays to the end: everyone else's stay overlaps
the anchor's, so the meeting is one room instance whatever the others do. Slow joins, failed
joins, early leaves and drops are drawn as exact shares of the non-anchor seats (not coin flips
per seat), so even a small run has some of each.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Literal

from callscope.simulate.clients import Client, draw_client

MS_PER_S = 1000
MAX_ROOMS = 10_000
MAX_USERS_PER_ROOM = 50  # received streams grow with the square of the room size
MIN_DURATION_S = 60
MAX_DURATION_S = 7 * 86_400
# The query API calls a silent session OFFLINE 60 s after its last report. Drops (no leave) are
# planned at least this long before the end, so the ground truth holds as soon as the run ends.
DROP_MARGIN_S = 90
MAX_TOGGLE_PAIRS = 4
MAX_EPISODES = 6


class EpisodeKind(StrEnum):
    LOSS_BURST = "loss_burst"
    JITTER = "jitter"
    RTT_SPIKE = "rtt_spike"
    CPU_SATURATION = "cpu_saturation"
    FREEZE = "freeze"


# The metric each kind moves and the range of its magnitude, in that metric's unit: the loss
# ratio during a burst, jitter and RTT added on top of the baseline, the system CPU share during
# saturation, and the frozen time per window of received video.
EPISODE_MAGNITUDES: dict[EpisodeKind, tuple[str, float, float]] = {
    EpisodeKind.LOSS_BURST: ("loss_ratio", 0.05, 0.25),
    EpisodeKind.JITTER: ("jitter_ms", 30.0, 120.0),
    EpisodeKind.RTT_SPIKE: ("rtt_ms", 250.0, 900.0),
    EpisodeKind.CPU_SATURATION: ("system_cpu_ratio", 0.9, 0.99),
    EpisodeKind.FREEZE: ("freeze_ms", 1000.0, 4000.0),
}


@dataclass(frozen=True)
class ScenarioConfig:
    rooms: int = 3
    users_per_room: int = 4
    duration_s: int = 180
    seed: int = 7
    run_id: str = "run"  # part of every session id, so two runs never share a session
    window_s: int = 5
    slow_join_ratio: float = 0.15
    failed_join_ratio: float = 0.1
    retry_after_failure_ratio: float = 0.6
    early_leave_ratio: float = 0.2
    drop_ratio: float = 0.05
    # Share of track starts (publish or subscribe) whose first try fails and is retried.
    failed_stream_ratio: float = 0.1
    second_meeting_ratio: float = 0.35
    toggles_per_minute: float = 0.4
    episodes_per_minute: float = 0.5

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.rooms <= MAX_ROOMS, f"rooms must be 1..{MAX_ROOMS}"),
            (
                1 <= self.users_per_room <= MAX_USERS_PER_ROOM,
                f"users_per_room must be 1..{MAX_USERS_PER_ROOM}",
            ),
            (
                MIN_DURATION_S <= self.duration_s <= MAX_DURATION_S,
                f"duration_s must be {MIN_DURATION_S}..{MAX_DURATION_S}",
            ),
            (1 <= self.window_s <= 60, "window_s must be 1..60"),
            (0 <= self.episodes_per_minute <= 10, "episodes_per_minute must be 0..10"),
            (0 <= self.toggles_per_minute <= 10, "toggles_per_minute must be 0..10"),
        ]
        checks += [
            (0 <= getattr(self, f.name) <= 1, f"{f.name} must be 0..1")
            for f in fields(self)
            if f.name.endswith("_ratio")
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


@dataclass(frozen=True)
class Toggle:
    at_ms: int
    type: Literal["camera_off", "camera_on", "mic_off", "mic_on"]


@dataclass(frozen=True)
class Episode:
    kind: EpisodeKind
    start_ms: int
    end_ms: int
    metric: str
    magnitude: float

    def active(self, t_ms: int) -> bool:
        return self.start_ms <= t_ms < self.end_ms


Ending = Literal["leave", "drop", "failed"]


@dataclass(frozen=True)
class SessionPlan:
    room_id: str
    instance_index: int
    user_id: str
    session_id: str
    client: Client
    network_factor: float  # 1 = good network; larger is worse
    attempt_ms: int  # the client starts connecting
    join_ms: int | None  # connected; None when the join failed
    end_ms: int  # leave, drop (last report) or failure
    ending: Ending
    slow_join: bool = False
    anchor: bool = False
    # The user's first attempt at this meeting: a retry's wait started with the failed attempt.
    first_attempt_ms: int = 0
    toggles: tuple[Toggle, ...] = ()
    episodes: tuple[Episode, ...] = ()

    def present(self, t_ms: int) -> bool:
        return self.join_ms is not None and self.join_ms < t_ms <= self.end_ms

    def device_on(self, device: Literal["camera", "mic"], t_ms: int) -> bool:
        """Devices start on; the last toggle of that device at or before t decides."""
        on = True
        for toggle in self.toggles:
            if toggle.at_ms > t_ms:
                break
            if toggle.type.startswith(device):
                on = toggle.type.endswith("_on")
        return on


@dataclass(frozen=True)
class InstancePlan:
    room_id: str
    index: int
    start_ms: int
    end_ms: int
    sessions: tuple[SessionPlan, ...]


@dataclass(frozen=True)
class Scenario:
    config: ScenarioConfig
    instances: tuple[InstancePlan, ...]

    @property
    def duration_ms(self) -> int:
        return self.config.duration_s * MS_PER_S

    @property
    def sessions(self) -> list[SessionPlan]:
        return [s for instance in self.instances for s in instance.sessions]


@dataclass
class _Seat:
    """One user's place in one meeting, before the plan is frozen into sessions."""

    room_id: str
    instance_index: int
    user_id: str
    client: Client
    network_factor: float
    segment: tuple[int, int]
    anchor: bool
    attempt_ms: int = 0
    outcome: Literal["normal", "slow", "failed"] = "normal"


def build_scenario(config: ScenarioConfig) -> Scenario:
    rng = random.Random(config.seed)  # noqa: S311 - synthetic data, not security
    duration_ms = config.duration_s * MS_PER_S
    seats: list[_Seat] = []
    for r in range(config.rooms):
        room_id = f"room-{r:03d}"
        # A user keeps the same device and network for both meetings of a room.
        people = [(f"user-{r:03d}-{u}", *draw_client(rng)) for u in range(config.users_per_room)]
        for index, segment in enumerate(_segments(rng, config, duration_ms)):
            for u, (user_id, client, factor) in enumerate(people):
                seats.append(_Seat(room_id, index, user_id, client, factor, segment, anchor=u == 0))
    # Exact shares of the non-anchor seats: even a small run has some slow and some failed joins.
    others = [s for s in seats if not s.anchor]
    rng.shuffle(others)
    n_failed = round(config.failed_join_ratio * len(others))
    n_slow = min(len(others) - n_failed, round(config.slow_join_ratio * len(others)))
    for seat in others[:n_failed]:
        seat.outcome = "failed"
    for seat in others[n_failed : n_failed + n_slow]:
        seat.outcome = "slow"
    sessions = [session for seat in seats for session in _sessions(rng, config, seat)]
    joined_others = [s for s in sessions if s.join_ms is not None and not s.anchor]
    droppable = [s for s in joined_others if duration_ms - s.end_ms >= DROP_MARGIN_S * MS_PER_S]
    n_dropped = min(len(droppable), round(config.drop_ratio * len(joined_others)))
    dropped = {s.session_id for s in rng.sample(droppable, n_dropped)}
    sessions = [
        _with_events(rng, config, replace(s, ending="drop") if s.session_id in dropped else s)
        for s in sessions
    ]
    return Scenario(config, _instances(seats, sessions))


def _segments(rng: random.Random, config: ScenarioConfig, duration_ms: int) -> list[tuple[int, int]]:
    """One meeting over the whole run, or two separated by a tenth of it (two room instances)."""
    if config.duration_s >= 2 * MIN_DURATION_S and rng.random() < config.second_meeting_ratio:
        return [(0, int(duration_ms * 0.45)), (int(duration_ms * 0.55), duration_ms)]
    return [(0, duration_ms)]


def _sessions(rng: random.Random, config: ScenarioConfig, seat: _Seat) -> list[SessionPlan]:
    start, end = seat.segment
    span = end - start
    window_ms = config.window_s * MS_PER_S
    attempt = start if seat.anchor else start + rng.randint(MS_PER_S, max(MS_PER_S, int(span * 0.3)))
    base_id = f"{config.run_id}-{seat.room_id}-{seat.instance_index}-{seat.user_id.rsplit('-', 1)[-1]}"
    first = SessionPlan(
        room_id=seat.room_id,
        instance_index=seat.instance_index,
        user_id=seat.user_id,
        session_id=base_id,
        client=seat.client,
        network_factor=seat.network_factor,
        attempt_ms=attempt,
        join_ms=None,
        end_ms=0,
        ending="failed",
        first_attempt_ms=attempt,
    )
    out = []
    if seat.outcome == "failed":
        failed_at = attempt + rng.randint(8 * MS_PER_S, 15 * MS_PER_S)  # an ICE timeout
        out.append(replace(first, end_ms=failed_at))
        if rng.random() >= config.retry_after_failure_ratio:
            return out
        attempt = failed_at + rng.randint(2 * MS_PER_S, 5 * MS_PER_S)
        base_id += "-retry"
    slow = seat.outcome == "slow"
    join = attempt + (rng.randint(4 * MS_PER_S, 15 * MS_PER_S) if slow else rng.randint(300, 1500))
    # A late joiner still reports before the meeting ends; a retry too late for that gives up.
    join = min(join, end - 3 * window_ms)
    if join <= attempt:
        return out
    if seat.anchor:
        leave = end - rng.randint(0, 2 * MS_PER_S)
    elif rng.random() < config.early_leave_ratio:
        earliest = join + (end - join) * 3 // 10
        leave = rng.randint(earliest, max(earliest, end - span * 15 // 100))
    else:
        leave = end - rng.randint(0, span // 10)
    leave = min(end, max(leave, join + 2 * window_ms))  # a short stay still reports twice
    joined = replace(first, session_id=base_id, attempt_ms=attempt, join_ms=join, end_ms=leave)
    out.append(replace(joined, ending="leave", slow_join=slow, anchor=seat.anchor))
    return out


def _count(rng: random.Random, per_minute: float, span_ms: int, cap: int) -> int:
    """A count with the expected value per_minute × minutes: its floor plus a chance at one more."""
    expected = per_minute * span_ms / 60_000
    return min(cap, int(expected) + (1 if rng.random() < expected % 1 else 0))


def _with_events(rng: random.Random, config: ScenarioConfig, session: SessionPlan) -> SessionPlan:
    """Device toggles and impairment episodes inside a joined session's stay."""
    if session.join_ms is None:
        return session
    lo, hi = session.join_ms + 2 * MS_PER_S, session.end_ms - 10 * MS_PER_S
    if hi <= lo:
        return session
    toggles: list[Toggle] = []
    busy_until = {"camera": 0, "mic": 0}
    for _ in range(_count(rng, config.toggles_per_minute, hi - lo, MAX_TOGGLE_PAIRS)):
        device: Literal["camera", "mic"] = "camera" if rng.random() < 0.7 else "mic"
        off = rng.randint(lo, hi)
        back = off + rng.randint(5 * MS_PER_S, 30 * MS_PER_S)
        if off <= busy_until[device]:
            continue  # overlaps this device's previous off period
        busy_until[device] = back
        toggles.append(Toggle(off, "camera_off" if device == "camera" else "mic_off"))
        if back < session.end_ms:  # otherwise the user leaves with the device off
            toggles.append(Toggle(back, "camera_on" if device == "camera" else "mic_on"))
    episodes: list[Episode] = []
    for _ in range(_count(rng, config.episodes_per_minute, hi - lo, MAX_EPISODES)):
        kind = rng.choice(list(EpisodeKind))
        metric, low, high = EPISODE_MAGNITUDES[kind]
        start = rng.randint(lo, hi)
        stop = min(session.end_ms, start + rng.randint(10 * MS_PER_S, 40 * MS_PER_S))
        if any(e.kind is kind and e.start_ms < stop and start < e.end_ms for e in episodes):
            continue  # one episode of a kind at a time keeps its magnitude meaningful
        magnitude = round(rng.uniform(low, high), 3 if metric.endswith("_ratio") else 0)
        episodes.append(Episode(kind, start, stop, metric, magnitude))
    return replace(
        session,
        toggles=tuple(sorted(toggles, key=lambda t: t.at_ms)),
        episodes=tuple(sorted(episodes, key=lambda e: e.start_ms)),
    )


def _instances(seats: list[_Seat], sessions: list[SessionPlan]) -> tuple[InstancePlan, ...]:
    segments = {(s.room_id, s.instance_index): s.segment for s in seats}
    grouped: dict[tuple[str, int], list[SessionPlan]] = {key: [] for key in segments}
    for session in sessions:
        grouped[(session.room_id, session.instance_index)].append(session)
    return tuple(
        InstancePlan(room_id, index, *segments[(room_id, index)], tuple(members))
        for (room_id, index), members in grouped.items()
    )

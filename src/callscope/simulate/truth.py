"""Ground truth: what the simulator injected and the ingest API accepted, written as JSON.

Only accepted items count: an item the server refused is tallied under `outcomes` and left out of
every other number, so the file states what the query API must return for the run's rooms.
Times are epoch milliseconds (UTC). The format is described in docs/simulate.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from callscope.domain.samples import SERIES_MEASUREMENTS
from callscope.simulate.indicators import Indicators
from callscope.simulate.scenario import Scenario, SessionPlan

FORMAT = "callscope-simulation-truth/1"
# Sample fields averaged per stream (each over the samples that carried it).
AVERAGED_METRICS = SERIES_MEASUREMENTS  # what the API series returns, so the two compare
MAX_EXAMPLES = 5


@dataclass
class _Stream:
    samples: int = 0
    first_ms: int = 0
    last_ms: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, ts_ms: int, sample: dict[str, Any]) -> None:
        self.first_ms = ts_ms if self.samples == 0 else min(self.first_ms, ts_ms)
        self.last_ms = max(self.last_ms, ts_ms)
        self.samples += 1
        for metric in AVERAGED_METRICS:
            if metric in sample:
                self.sums[metric] = self.sums.get(metric, 0.0) + sample[metric]
                self.counts[metric] += 1


@dataclass
class _Session:
    plan: SessionPlan
    events: Counter[str] = field(default_factory=Counter)
    join_ms: int | None = None
    leave_ms: int | None = None
    first_ms: int | None = None
    last_ms: int | None = None
    streams: dict[tuple[str, str, str], _Stream] = field(default_factory=dict)

    def seen(self, ts_ms: int) -> None:
        self.first_ms = ts_ms if self.first_ms is None else min(self.first_ms, ts_ms)
        self.last_ms = ts_ms if self.last_ms is None else max(self.last_ms, ts_ms)

    @property
    def state(self) -> str:
        """The state the query API derives: FAIL for a failed join that was never retried in this
        session, OFFLINE after a leave or a silent drop (every drop is planned long enough before
        the end to count as over)."""
        if self.events["join_failed"] and not self.events["join"]:
            return "FAIL"
        return "OFFLINE"

    @property
    def start_ms(self) -> int | None:
        """When the session began: its join, or its first report when it never joined."""
        return self.join_ms if self.join_ms is not None else self.first_ms

    @property
    def end_ms(self) -> int | None:
        """When it ended: its leave, or its last report (drops and failed joins)."""
        return self.leave_ms if self.leave_ms is not None else self.last_ms


class GroundTruth:
    def __init__(self, scenario: Scenario, *, app_id: str, origin_ms: int, speedup: float) -> None:
        self.scenario = scenario
        self.app_id = app_id
        self.origin_ms = origin_ms
        self.speedup = speedup
        self.wall_seconds = 0.0
        self.completed = False
        self.outcomes: dict[str, Counter[str]] = {"events": Counter(), "samples": Counter()}
        self.problems: Counter[tuple[str, str, str, str]] = Counter()  # endpoint, outcome, reason, field
        self.examples: list[str] = []
        self._sessions = {s.session_id: _Session(s) for s in scenario.sessions}
        self.indicators = Indicators()

    def record(self, endpoint: str, item: dict[str, Any], outcome: dict[str, Any] | None) -> None:
        """One item's answer from the ingest API: None when it was accepted."""
        if outcome is not None:
            problem = (endpoint, outcome["outcome"], outcome.get("reason", ""), outcome.get("field", ""))
            self.outcomes[endpoint][outcome["outcome"]] += 1
            self.problems[problem] += 1
            if len(self.examples) < MAX_EXAMPLES:
                self.examples.append(f"{endpoint}[{item['session_id']}]: {outcome.get('message', '')}")
            return
        self.outcomes[endpoint]["accepted"] += 1
        session = self._sessions[item["session_id"]]
        ts_ms: int = item["ts"]
        session.seen(ts_ms)
        if endpoint == "events":
            self.indicators.event(session.plan, item, self.origin_ms)
            session.events[item["type"]] += 1
            if item["type"] == "join":
                session.join_ms = ts_ms if session.join_ms is None else min(session.join_ms, ts_ms)
            elif item["type"] == "leave":
                session.leave_ms = ts_ms if session.leave_ms is None else max(session.leave_ms, ts_ms)
            return
        self.indicators.sample(item)
        stream = (item["kind"], item.get("direction", "none"), item.get("peer_id", ""))
        session.streams.setdefault(stream, _Stream()).add(ts_ms, item)

    @property
    def accepted(self) -> dict[str, int]:
        return {endpoint: counts["accepted"] for endpoint, counts in self.outcomes.items()}

    @property
    def rejected(self) -> int:
        return sum(self.problems.values())

    def to_json(self) -> dict[str, Any]:
        config = self.scenario.config
        sessions = [s for s in self._sessions.values() if s.first_ms is not None]
        rooms: dict[str, list[dict[str, Any]]] = {}
        for instance in self.scenario.instances:
            members = [
                s
                for s in sessions
                if (s.plan.room_id, s.plan.instance_index) == (instance.room_id, instance.index)
            ]
            if not members:
                continue  # nothing of it was accepted
            rooms.setdefault(instance.room_id, []).append(
                {
                    "index": instance.index,
                    "start_ms": min(s.start_ms for s in members if s.start_ms is not None),
                    "end_ms": max(s.end_ms for s in members if s.end_ms is not None),
                    "users": len({s.plan.user_id for s in members}),
                    "sessions": [s.plan.session_id for s in members],
                }
            )
        return {
            "format": FORMAT,
            "app_id": self.app_id,
            "completed": self.completed,
            "config": asdict(config),
            "clock": {
                "origin_ms": self.origin_ms,
                "end_ms": self.origin_ms + self.scenario.duration_ms,
                "speedup": self.speedup,
                "wall_seconds": round(self.wall_seconds, 3),
            },
            "totals": {
                "rooms": len(rooms),
                "room_instances": sum(len(i) for i in rooms.values()),
                "sessions": len(sessions),
                "events": self.accepted["events"],
                "samples": self.accepted["samples"],
            },
            "outcomes": {endpoint: dict(sorted(c.items())) for endpoint, c in self.outcomes.items()},
            "problems": [
                {"endpoint": e, "outcome": o, "reason": r, "field": f, "count": n}
                for (e, o, r, f), n in sorted(self.problems.items())
            ],
            "problem_examples": self.examples,
            "rooms": [{"room_id": room_id, "instances": found} for room_id, found in rooms.items()],
            # The run as one bucket: what query_metrics(interval="total") over it must say.
            "indicators": self.indicators.to_json(),
            "sessions": [_session_json(s, self.origin_ms) for s in sessions],
        }

    def write(self, path: Path) -> None:
        path.write_bytes(orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2) + b"\n")


def _session_json(session: _Session, origin_ms: int) -> dict[str, Any]:
    plan = session.plan
    return {
        "room_id": plan.room_id,
        "instance_index": plan.instance_index,
        "user_id": plan.user_id,
        "session_id": plan.session_id,
        "state": session.state,
        "ending": plan.ending,
        "start_ms": session.start_ms,
        "end_ms": session.end_ms,
        "attempt_ms": session.first_ms,
        "join_ms": session.join_ms,
        "join_delay_ms": None if session.join_ms is None else session.join_ms - (session.first_ms or 0),
        "slow_join": plan.slow_join,
        "client": plan.client.attributes(),
        "network_factor": plan.network_factor,
        "events": dict(sorted(session.events.items())),
        "episodes": [
            {
                "kind": e.kind.value,
                "start_ms": origin_ms + e.start_ms,
                "end_ms": origin_ms + e.end_ms,
                "metric": e.metric,
                "magnitude": e.magnitude,
            }
            for e in plan.episodes
        ],
        "streams": [
            {
                "kind": kind,
                "direction": direction,
                "peer_id": peer_id,
                "samples": stream.samples,
                "first_ms": stream.first_ms,
                "last_ms": stream.last_ms,
                "avg": {m: stream.sums[m] / stream.counts[m] for m in AVERAGED_METRICS if stream.counts[m]},
            }
            for (kind, direction, peer_id), stream in sorted(session.streams.items())
        ],
    }

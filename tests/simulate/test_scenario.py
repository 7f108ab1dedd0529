"""The plan is pure and seeded, its shares are exact, and every item it makes is one ingest takes."""

from __future__ import annotations

from dataclasses import replace

import msgspec
import pytest

from callscope.domain.events import Event
from callscope.domain.samples import Sample
from callscope.simulate.media import Item, session_items
from callscope.simulate.scenario import DROP_MARGIN_S, Scenario, ScenarioConfig, build_scenario

CONFIG = ScenarioConfig(rooms=6, users_per_room=5, duration_s=300, seed=11)


def items(scenario: Scenario, origin_ms: int = 1_700_000_000_000) -> dict[str, list[Item]]:
    return {
        s.session_id: list(
            session_items(
                s, instance.sessions, origin_ms=origin_ms, seed=scenario.config.seed, window_ms=5000
            )
        )
        for instance in scenario.instances
        for s in instance.sessions
    }


def test_same_seed_same_plan_and_items() -> None:
    assert build_scenario(CONFIG) == build_scenario(CONFIG)
    assert items(build_scenario(CONFIG)) == items(build_scenario(CONFIG))
    assert build_scenario(CONFIG) != build_scenario(replace(CONFIG, seed=12))


def test_shares_are_exact_and_meetings_hold_together() -> None:
    scenario = build_scenario(CONFIG)
    seats = [s for s in scenario.sessions if not s.session_id.endswith("-retry") and not s.anchor]
    assert sum(s.ending == "failed" for s in seats) == round(CONFIG.failed_join_ratio * len(seats))
    assert sum(s.slow_join for s in seats) == round(CONFIG.slow_join_ratio * len(seats))
    for instance in scenario.instances:
        [anchor] = [s for s in instance.sessions if s.anchor]
        for s in instance.sessions:
            assert instance.start_ms <= s.attempt_ms and s.end_ms <= instance.end_ms
            # Every stay overlaps the anchor's, so the meeting is one room instance.
            assert (s.join_ms or s.attempt_ms) < anchor.end_ms and s.end_ms > (anchor.join_ms or 0)
            if s.ending == "drop":
                assert scenario.duration_ms - s.end_ms >= DROP_MARGIN_S * 1000
    later = [i for i in scenario.instances if i.index == 1]
    for instance in later:
        first = next(i for i in scenario.instances if i.room_id == instance.room_id and i.index == 0)
        assert max(s.end_ms for s in first.sessions) < instance.start_ms


def test_every_item_passes_the_ingest_schema_in_time_order() -> None:
    scenario = build_scenario(CONFIG)
    origin_ms = 1_700_000_000_000
    for session_id, found in items(scenario, origin_ms).items():
        times = [ts for ts, _, _ in found]
        assert (
            times == sorted(times) and origin_ms <= times[0] and times[-1] <= origin_ms + scenario.duration_ms
        )
        for _, endpoint, payload in found:
            assert payload["session_id"] == session_id
            msgspec.convert(payload, Sample if endpoint == "samples" else Event)  # raises when out of bounds
            if endpoint == "samples" and payload.get("freeze_ms"):
                assert payload["freeze_ms"] <= payload["window_ms"]


@pytest.mark.parametrize(
    ("field", "value"), [("rooms", 0), ("duration_s", 10), ("failed_join_ratio", 1.5), ("users_per_room", 51)]
)
def test_config_refuses_what_it_cannot_plan(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        ScenarioConfig(**{field: value})

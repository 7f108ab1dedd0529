"""The simulator's ground truth file matches what the native query API returns for its rooms.

One run (3 rooms x 4 users, 3 simulated minutes at speed-up 120: slow and failed joins, a retry,
a drop, a second meeting in one room, toggles and impairment episodes) goes through the real
HTTP ingest path of the in-process server; everything is then read back over HTTP and compared:
rooms, room instances, participants with state and attributes, events per session by type,
streams, per-stream sample counts and per-stream averages.

Per-stream averages come from the raw series, not from the 1-minute rollup: the raw series is
every stored sample, so its count must equal the truth exactly (one lost sample fails) and its
mean is the stream's mean. The rollup's `samples` counts rows, while its `*_avg` averages only
the measured values; weighting one by the other is exact only when every sample measured every
metric, so it cannot serve as the reference. The rollup is cross-checked for bitrate, which every
simulated sample measures.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import pytest

from callscope.api.deps import Services
from callscope.simulate.scenario import ScenarioConfig, build_scenario
from callscope.simulate.traffic import Target, new_run_id, run_simulation
from tests.helpers import bearer

RELATIVE_TOLERANCE = 0.01
ABSOLUTE_EPSILON = 1e-6  # loss and CPU shares of ~0 (Float32 storage) compare absolutely
CONFIG = ScenarioConfig(rooms=3, users_per_room=4, duration_s=180, seed=7)
SPEEDUP = 120.0


def close(api: float, truth: float) -> bool:
    return abs(api - truth) <= max(RELATIVE_TOLERANCE * abs(truth), ABSOLUTE_EPSILON)


def ms(value: str | None) -> int | None:
    return None if value is None else round(datetime.fromisoformat(value).timestamp() * 1000)


@pytest.fixture(scope="module")
def truth(services: Services, base_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app, key = services.tenancy.create_app("simulation")
    services.auth.refresh()
    scenario = build_scenario(replace(CONFIG, run_id=new_run_id()))
    result = run_simulation(scenario, Target(base_url, app.app_id, key), speedup=SPEEDUP)
    path = tmp_path_factory.mktemp("simulate") / "truth.json"
    result.write(path)
    loaded: dict[str, Any] = json.loads(path.read_text())
    loaded["key"] = key
    return loaded


@pytest.fixture(scope="module")
def api(truth: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Everything the query API says about the run, read over HTTP."""
    clock = truth["clock"]
    window = {"start": clock["origin_ms"] - 60_000, "end": clock["end_ms"] + 60_000}
    prefix = f"/v1/apps/{truth['app_id']}"
    with httpx.Client(base_url=base_url, headers=bearer(truth["key"]), timeout=30) as client:

        def get(path: str, **params: Any) -> Any:
            response = client.get(prefix + path, params={**window, **params})
            assert response.status_code == 200, response.text
            return response.json()

        instances = get("/room-instances", limit=1000)["room_instances"]
        participants = {
            i["instance_id"]: get(f"/rooms/{i['room_id']}/instances/{i['instance_id']}/participants")[
                "participants"
            ]
            for i in instances
        }
        events = {room: get(f"/rooms/{room}/events")["events"] for room in {i["room_id"] for i in instances}}
        streams, raw, minute = {}, {}, {}
        for s in truth["sessions"]:
            path = f"/rooms/{s['room_id']}/sessions/{s['session_id']}"
            if not s["streams"]:
                continue  # a failed join sent no samples: the API answers 404
            streams[s["session_id"]] = get(path + "/streams")["streams"]
            for st in s["streams"]:
                key = (s["session_id"], st["kind"], st["direction"], st["peer_id"])
                selector = {"kind": st["kind"], "direction": st["direction"], "peer_id": st["peer_id"]}
                raw[key] = get(path + "/series", **selector)["points"]
                minute[key] = get(path + "/series", **selector, interval="1m")["points"]
    return {
        "instances": instances,
        "participants": participants,
        "events": events,
        "streams": streams,
        "raw": raw,
        "minute": minute,
    }


def mismatches(truth: dict[str, Any], api: dict[str, Any]) -> list[str]:
    """Every difference between the ground truth and the API's answers (empty when they agree)."""
    found: list[str] = []
    found += _rooms_and_participants(truth, api)
    found += _events(truth, api)
    found += _streams(truth, api)
    return found


def _rooms_and_participants(truth: dict[str, Any], api: dict[str, Any]) -> list[str]:
    found = []
    sessions = {s["session_id"]: s for s in truth["sessions"]}
    expected = {(room["room_id"], i["start_ms"]): i for room in truth["rooms"] for i in room["instances"]}
    actual = {(i["room_id"], ms(i["start_ts"])): i for i in api["instances"]}
    if len({room for room, _ in actual}) != truth["totals"]["rooms"]:
        found.append(f"rooms: API {sorted({r for r, _ in actual})}, truth {truth['totals']['rooms']}")
    if actual.keys() != expected.keys():
        found.append(f"room instances: API {sorted(actual)}, truth {sorted(expected)}")
    for key in expected.keys() & actual.keys():
        want, got = expected[key], actual[key]
        if (got["state"], ms(got["end_ts"]), got["participants"]) != (
            "CLOSED",
            want["end_ms"],
            want["users"],
        ):
            found.append(f"instance {key}: API {got}, truth {want}")
        people = api["participants"][got["instance_id"]]
        if sorted(p["session_id"] for p in people) != sorted(want["sessions"]):
            found.append(f"instance {key} sessions: API {[p['session_id'] for p in people]}")
        for p in people:
            s = sessions.get(p["session_id"])
            if s is None:
                continue
            seen = (p["user_id"], p["state"], ms(p["join_ts"]), ms(p["leave_ts"]))
            if seen != (s["user_id"], s["state"], s["start_ms"], s["end_ms"]):
                found.append(f"participant {p['session_id']}: API {seen}, truth {s}")
            # Attributes ride on `join`; a session that never joined has none in the API.
            attributes = {k: p[k] for k in s["client"]}
            if s["state"] != "FAIL" and attributes != s["client"]:
                found.append(f"participant {p['session_id']} attributes: API {attributes}")
    return found


def _events(truth: dict[str, Any], api: dict[str, Any]) -> list[str]:
    by_session: dict[str, Counter[str]] = defaultdict(Counter)
    for room_events in api["events"].values():
        for e in room_events:
            by_session[e["session_id"]][e["type"]] += 1
    found = [
        f"events of {s['session_id']}: API {dict(by_session[s['session_id']])}, truth {s['events']}"
        for s in truth["sessions"]
        if by_session[s["session_id"]] != Counter(s["events"])
    ]
    total = sum(sum(counts.values()) for counts in by_session.values())
    if total != truth["totals"]["events"]:
        found.append(f"events: API {total}, truth {truth['totals']['events']}")
    return found


def _streams(truth: dict[str, Any], api: dict[str, Any]) -> list[str]:
    found = []
    for s in truth["sessions"]:
        listed = {
            (st["kind"], st["direction"], st["peer_id"]): st["samples"]
            for st in api["streams"].get(s["session_id"], [])
        }
        wanted = {(st["kind"], st["direction"], st["peer_id"]): st["samples"] for st in s["streams"]}
        if listed != wanted:
            found.append(f"streams of {s['session_id']}: API {listed}, truth {wanted}")
        for st in s["streams"]:
            key = (s["session_id"], st["kind"], st["direction"], st["peer_id"])
            points = api["raw"].get(key, [])
            if len(points) != st["samples"]:
                found.append(f"{key}: {len(points)} raw samples, truth {st['samples']}")
            for metric, want in st["avg"].items():
                values = [p[metric] for p in points if p[metric] is not None]
                got = sum(values) / len(values) if values else None
                if got is None or not close(got, want):
                    found.append(f"{key} {metric}: API average {got}, truth {want}")
            if "bitrate_kbps" in st["avg"]:  # measured in every sample of the stream
                buckets = api["minute"].get(key, [])
                rolled = sum(b["bitrate_kbps_avg"] * b["samples"] for b in buckets) / max(1, st["samples"])
                if not close(rolled, st["avg"]["bitrate_kbps"]):
                    found.append(f"{key}: 1-minute bitrate {rolled}, truth {st['avg']['bitrate_kbps']}")
    return found


def test_the_run_is_non_trivial_and_fully_accepted(truth: dict[str, Any]) -> None:
    assert truth["completed"] and truth["problems"] == []
    assert truth["outcomes"]["samples"] == {"accepted": truth["totals"]["samples"]}
    assert truth["totals"]["rooms"] == CONFIG.rooms and truth["totals"]["room_instances"] > CONFIG.rooms
    sessions = truth["sessions"]
    assert {s["state"] for s in sessions} == {"OFFLINE", "FAIL"}
    assert any(s["slow_join"] for s in sessions) and any(s["ending"] == "drop" for s in sessions)
    assert any(s["session_id"].endswith("-retry") for s in sessions)
    assert len({e["kind"] for s in sessions for e in s["episodes"]}) >= 4
    assert sum(s["events"].get("camera_off", 0) for s in sessions) > 0
    assert truth["totals"]["samples"] > 2000


def test_the_api_returns_the_ground_truth(truth: dict[str, Any], api: dict[str, Any]) -> None:
    assert mismatches(truth, api) == []


def test_a_lost_sample_or_a_skewed_average_is_caught(truth: dict[str, Any], api: dict[str, Any]) -> None:
    """The comparison can fail: one sample or one event missing, or bitrate 2 % off, disagrees."""
    victim = next(s for s in truth["sessions"] if s["streams"])
    stream = victim["streams"][0]
    key = (victim["session_id"], stream["kind"], stream["direction"], stream["peer_id"])
    dropped = {**api, "raw": {**api["raw"], key: api["raw"][key][1:]}}
    assert any("raw samples" in m for m in mismatches(truth, dropped))
    skewed = json.loads(json.dumps(truth))
    skewed["sessions"][truth["sessions"].index(victim)]["streams"][0]["avg"]["bitrate_kbps"] *= 1.02
    assert any("bitrate_kbps: API average" in m for m in mismatches(skewed, api))
    one_less = json.loads(json.dumps(truth))
    one_less["sessions"][truth["sessions"].index(victim)]["events"]["join"] -= 1
    assert any(m.startswith("events of") for m in mismatches(one_less, api))


def test_simulated_time_never_ran_ahead_of_the_wall_clock(truth: dict[str, Any]) -> None:
    assert truth["clock"]["end_ms"] <= time.time() * 1000


# The run-wide indicators (simulate/indicators.py) against the metric catalog over HTTP. Counts
# and rates are exact; first-frame times are whole ms (exact in Float32); end-to-end delays are
# built from RTT and jitter stored as Float32, so they agree to a relative 1e-4.
INDICATOR_TOLERANCE = {"e2e_video_delay_ms": 1e-4, "e2e_audio_delay_ms": 1e-4}


def test_quality_indicators_match_the_ground_truth(truth: dict[str, Any], base_url: str) -> None:
    want = truth["indicators"]
    clock = truth["clock"]
    params = {
        "start": clock["origin_ms"] - 60_000,
        "end": clock["end_ms"] + 60_000,
        "interval": "total",
        "metric": sorted(want),
    }
    with httpx.Client(base_url=base_url, headers=bearer(truth["key"]), timeout=30) as client:
        reply = client.get(f"/v1/apps/{truth['app_id']}/metrics", params=params)
    assert reply.status_code == 200, reply.text
    [got] = reply.json()["rows"]
    for name, value in want.items():
        assert value is not None, f"{name}: the run did not exercise it"
        tolerance = INDICATOR_TOLERANCE.get(name, 1e-6)
        assert got[name] == pytest.approx(value, rel=tolerance), f"{name}: API {got[name]}, truth {value}"
    # Non-trivial: some joins were slow, some track starts failed and were retried.
    assert want["join_success_within_5s"] < want["join_success_rate"] < 1
    assert want["push_success_rate"] < 1 and want["pull_success_rate"] < 1
    assert want["e2e_video_delay_ms"] > 0 and want["first_video_frame_ms"] > want["first_audio_frame_ms"]

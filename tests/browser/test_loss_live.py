"""5 % UDP loss into one side of a real call, measured end to end through ingest and the query API.

Two headless Chromium processes, each in its own network namespace of a veth pair
(tests/netns.py); B's namespace drops each arriving UDP packet with probability 0.05. Both sides'
getStats() reports go through `POST /v1/ingest/webrtc` with ingest tokens, one request per
report as the SDK sends them, and B's downlink comes back from the series API. The average is
time-weighted over the windows that measured loss (sum(loss_ratio × window_ms) / sum(window_ms)).
Video loss counts originals only: what came over RTX (repairs, bandwidth probes) is taken out of
`packetsReceived` (tests/collectors/test_webrtc_loss.py has the numbers).

With ~50 audio packets/s over CALL_SECONDS, binomial noise on a 5 % drop is about ±0.6 % (one
standard deviation), so [3 %, 7 %] is over three standard deviations wide on each side.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.capture_loss import capture
from tests.helpers import bearer
from tests.netns import VethPair, veth_or_fail

CALL_SECONDS = 25
DROP = 0.05
ROOM = "lossy"
SIDES = {"a": ("alice", "bob"), "b": ("bob", "alice")}  # pc → (user, the peer it receives)


@pytest.fixture
def net() -> Iterator[VethPair]:
    yield from veth_or_fail()


def mint(client: httpx.Client, app_id: str, key: str, user: str) -> str:
    response = client.post(
        f"/v1/apps/{app_id}/ingest-tokens", json={"room_id": ROOM, "user_id": user}, headers=bearer(key)
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def series(
    client: httpx.Client, app_id: str, key: str, user: str, peer: str, kind: str, span: tuple[int, int]
) -> list[dict[str, Any]]:
    response = client.get(
        f"/v1/apps/{app_id}/rooms/{ROOM}/sessions/s-{user}/series",
        params={
            "start": str(span[0]),
            "end": str(span[1]),
            "kind": kind,
            "direction": "down",
            "peer_id": peer,
        },
        headers=bearer(key),
    )
    assert response.status_code == 200, response.text
    points: list[dict[str, Any]] = response.json()["points"]
    return points


def local_address(stats: list[dict[str, Any]]) -> str:
    """The local address of the selected ICE candidate pair."""
    by_id = {s["id"]: s for s in stats}
    transport = next(s for s in stats if s["type"] == "transport")
    pair = by_id[transport["selectedCandidatePairId"]]
    address: str = by_id[pair["localCandidateId"]]["address"]
    return address


def time_weighted_loss(points: list[dict[str, Any]]) -> float:
    """Unmeasured loss comes back as null (NaN in the store) and is left out, never counted as 0."""
    measured = [p for p in points if p["loss_ratio"] is not None and math.isfinite(p["loss_ratio"])]
    assert measured, points
    return sum(p["loss_ratio"] * p["window_ms"] for p in measured) / sum(p["window_ms"] for p in measured)


def test_5_percent_inbound_drop_shows_as_3_to_7_percent_downlink_loss(
    net: VethPair, client: httpx.Client, app_creds: tuple[str, str]
) -> None:
    started = time.monotonic()
    app_id, key = app_creds
    tokens = {pc: mint(client, app_id, key, user) for pc, (user, _) in SIDES.items()}
    reports = capture(net, CALL_SECONDS, DROP)
    dropped = net.dropped_packets(net.b)
    assert dropped > 0, "the iptables rule in B's namespace dropped nothing"
    for pc, addr in (("a", net.addr_a), ("b", net.addr_b)):
        last = next(r for r in reversed(reports) if r["pc"] == pc)
        assert local_address(last["stats"]) == addr, "media did not flow over the veth"

    for r in reports:
        user, peer = SIDES[r["pc"]]
        report = {
            "room_id": ROOM,
            "user_id": user,
            "session_id": f"s-{user}",
            "pc_id": "p2p",
            "peer_id": peer,
            "ts": r["ts"],
            "stats": r["stats"],
        }
        answer = client.post("/v1/ingest/webrtc", json={"reports": [report]}, headers=bearer(tokens[r["pc"]]))
        assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text

    span = (reports[0]["ts"] - 1000, reports[-1]["ts"] + 1000)
    loss = {}
    for pc, (user, peer) in SIDES.items():
        for kind in ("audio", "video"):
            points = series(client, app_id, key, user, peer, kind, span)
            assert len(points) >= CALL_SECONDS - 2, (pc, kind, len(points))
            loss[pc, kind] = time_weighted_loss(points)
    summary = ", ".join(f"{pc}/{kind} {value:.4f}" for (pc, kind), value in sorted(loss.items()))
    print(f"downlink loss: {summary}; {dropped} packets dropped in B; {time.monotonic() - started:.1f} s")

    for kind in ("audio", "video"):
        assert 0.03 <= loss["b", kind] <= 0.07, summary
        assert loss["a", kind] < 0.01, summary

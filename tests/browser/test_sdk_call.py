"""Two headless Chromium pages in a call, each reporting through the served SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from callscope.api.deps import Services
from tests.browser.chromium import chromium, serve_page
from tests.helpers import bearer

CALL_SECONDS = 6

PAGE = """<!doctype html><html><body><video id=remote autoplay muted playsinline></video>
<script type=module>
const C = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const { Callscope } = await import(`${C.url}/sdk/callscope.js`);
const bus = new BroadcastChannel("call");
const send = (msg) => bus.postMessage({ ...msg, from: C.user });
const cs = new Callscope({ url: C.url, token: C.token, roomId: C.room, userId: C.user,
                           sessionId: C.session, intervalMs: 1000 });
cs.event("join", { platform: "web", browser: "Chromium", sdk_name: "callscope-js", sdk_type: "webrtc" });
const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
const pc = new RTCPeerConnection();
media.getTracks().forEach((t) => pc.addTrack(t, media));
cs.addPeerConnection(pc, { pcId: "p2p", peerId: C.peer });
cs.watchTrack(media.getVideoTracks()[0]);
pc.ontrack = (e) => { document.getElementById("remote").srcObject = e.streams[0]; };
pc.onicecandidate = (e) => e.candidate && send({ type: "candidate", candidate: e.candidate.toJSON() });
let offered = false;
bus.onmessage = async ({ data }) => {
  if (data.from === C.user) return;
  if (data.type === "ready" && C.offerer && !offered) {
    offered = true;
    await pc.setLocalDescription(await pc.createOffer());
    send({ type: "offer", sdp: pc.localDescription.toJSON() });
  } else if (data.type === "offer") {
    clearInterval(ready);
    await pc.setRemoteDescription(data.sdp);
    await pc.setLocalDescription(await pc.createAnswer());
    send({ type: "answer", sdp: pc.localDescription.toJSON() });
  } else if (data.type === "answer") {
    await pc.setRemoteDescription(data.sdp);
  } else if (data.type === "candidate") {
    await pc.addIceCandidate(data.candidate);
  }
};
// The offerer's page may not be listening yet when this one loads: say "ready" until the offer
// comes (bounded: 50 times, 10 s).
let readyCount = 0;
const ready = C.offerer ? null : setInterval(() => {
  if (++readyCount > 50) clearInterval(ready);
  else send({ type: "ready" });
}, 200);
window.done = (async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  for (let i = 0; i < 100 && pc.connectionState !== "connected"; i++) await sleep(100);
  const connected = pc.connectionState;
  media.getVideoTracks()[0].enabled = false;  // camera off, then on again: two events
  await new Promise((r) => setTimeout(r, 1200));
  media.getVideoTracks()[0].enabled = true;
  await new Promise((r) => setTimeout(r, C.seconds * 1000));
  await cs.close();
  pc.close();
  return connected;
})();
</script></body></html>"""


def mint(client: httpx.Client, app_id: str, key: str, user: str) -> str:
    response = client.post(
        f"/v1/apps/{app_id}/ingest-tokens", json={"room_id": "standup", "user_id": user}, headers=bearer(key)
    )
    token: str = response.json()["token"]
    return token


def test_two_browsers_in_a_call_report_through_the_sdk(
    client: httpx.Client, base_url: str, services: Services, app_creds: tuple[str, str]
) -> None:
    app_id, key = app_creds
    users = [("alice", "bob", True), ("bob", "alice", False)]
    with chromium() as browser, serve_page(PAGE) as page_url:
        context = browser.new_context()
        pages, errors = [], []
        for user, peer, offerer in reversed(users):  # the answerer listens first
            config = {
                "url": base_url,
                "token": mint(client, app_id, key, user),
                "room": "standup",
                "user": user,
                "peer": peer,
                "session": f"s-{user}",
                "offerer": offerer,
                "seconds": CALL_SECONDS,
            }
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{page_url}/call.html#{json.dumps(config)}")
            pages.append(page)
        for page in pages:
            page.wait_for_function("window.done !== undefined", timeout=20_000)
        states = [page.evaluate("window.done") for page in pages]
    assert states == ["connected", "connected"], errors
    assert errors == []
    time.sleep(0.5)  # the final keepalive posts land after the pages resolve

    streams = _streams(services, app_id)
    for user, peer, _ in users:
        for kind in ("audio", "video"):
            for direction in ("up", "down"):
                row = streams[(user, kind, direction)]
                assert row["n"] >= CALL_SECONDS - 2, (user, kind, direction, row)
                assert row["kbps"] > 5, (user, kind, direction, row)
                if direction == "down":
                    assert row["peer_id"] == peer
                if kind == "video":
                    assert 5 <= row["fps"] <= 31 and (row["w"], row["h"]) == (640, 480), row
    events = _events(services, app_id)
    for user, _, _ in users:
        assert {"join", "leave", "camera_off", "camera_on", "connection_state"} <= events[user], events
        # Track starts: audio and video published and subscribed, first frame and sample timed.
        starts = {"publish", "subscribe", "first_video_frame", "first_audio_frame"}
        assert starts <= events[user], events
    firsts = services.backend.query(
        "SELECT user_id, peer_id, type, elapsed_ms FROM events "
        "WHERE app_id = {a:String} AND type LIKE 'first_%'",
        {"a": app_id},
    )
    assert len(firsts) == 4 and all(0 < r["elapsed_ms"] < 10_000 for r in firsts), firsts
    assert {(r["user_id"], r["peer_id"]) for r in firsts} == {("alice", "bob"), ("bob", "alice")}


def _streams(services: Services, app_id: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    rows = services.backend.query(
        "SELECT user_id, kind, direction, any(peer_id) AS peer_id, count() AS n, "
        "avg(bitrate_kbps) AS kbps, avgIf(fps, isFinite(fps)) AS fps, "
        "max(width_px) AS w, max(height_px) AS h "
        "FROM samples WHERE app_id = {a:String} GROUP BY user_id, kind, direction",
        {"a": app_id},
    )
    return {(r["user_id"], r["kind"], r["direction"]): r for r in rows}


def _events(services: Services, app_id: str) -> dict[str, set[str]]:
    rows = services.backend.query(
        "SELECT user_id, groupUniqArray(type) AS types FROM events "
        "WHERE app_id = {a:String} GROUP BY user_id",
        {"a": app_id},
    )
    return {r["user_id"]: set(r["types"]) for r in rows}

"""The demo room page is served with a same-origin-only policy; its assets and nothing else."""

from __future__ import annotations

import httpx


def test_demo_room_page_and_assets(client: httpx.Client) -> None:
    page = client.get("/demo/rooms/standup")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    assert '<script type="module" src="../../demo/assets/room.js">' in page.text
    script = client.get("/demo/assets/room.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert 'from "../../sdk/callscope.js"' in script.text
    assert client.get("/demo/assets/room.css").status_code == 200
    assert client.get("/demo/assets/..%2Fdemo.py").status_code == 404
    assert client.get("/demo/assets/room.html").status_code == 404
    sdk = client.get("/sdk/rooms.js")
    assert sdk.status_code == 200 and "export class Room" in sdk.text

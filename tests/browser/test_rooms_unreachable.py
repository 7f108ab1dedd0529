"""The rooms SDK when it cannot join: the promise rejects with the reason, nothing else breaks.

A page on another origin loads the SDK from a running Callscope (without a media server) and
joins twice: once pointing at a port where nothing listens (Callscope unreachable), once at
Callscope itself (which says there is no media server, close 4503). Both rejections carry the
reason and close code, the camera and microphone the SDK opened are released, and the page has
no uncaught error.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from tests.browser.chromium import chromium, serve_page

PAGE = """<!doctype html><html><body><script type=module>
const C = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const { Room } = await import(`${C.url}/sdk/callscope.js`);
async function attempt(url) {
  const room = new Room("csj1.not-a-real-token", { url });
  try {
    await room.start();
    return { joined: true };
  } catch (error) {
    return { message: error.message, code: error.code, state: room.state,
             tracks: room.localStream.getTracks().map((t) => t.readyState) };
  }
}
window.done = (async () => ({ unreachable: await attempt(C.dead), refused: await attempt(C.url) }))();
</script></body></html>"""


def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_join_rejects_with_the_reason_and_releases_the_devices(base_url: str) -> None:
    errors: list[str] = []
    config = {"url": base_url, "dead": f"http://127.0.0.1:{_dead_port()}"}
    with chromium() as browser, serve_page(PAGE) as page_url:
        page = browser.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{page_url}/rooms.html#{json.dumps(config)}")
        page.wait_for_function("window.done !== undefined", timeout=20_000)
        result: dict[str, Any] = page.evaluate("window.done")
    assert errors == []
    unreachable, refused = result["unreachable"], result["refused"]
    assert unreachable["code"] == 1006 and "signaling closed" in unreachable["message"], unreachable
    assert refused["code"] == 4503 and "no media server" in refused["message"], refused
    for outcome in (unreachable, refused):
        assert outcome["state"] == "closed" and outcome["tracks"] == ["ended", "ended"], outcome

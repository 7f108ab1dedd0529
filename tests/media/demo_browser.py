"""Headless Debian Chromium in the clients' namespace, opening Callscope's demo room page.

The browser process runs in namespace b (a wrapper script does `ip netns exec`; Playwright's
driver stays here and talks to it over a pipe), so it reaches Callscope and Janus at 198.18.0.1
over the veth like the aiortc clients. getUserMedia needs a secure context: the page is served
over plain HTTP from 198.18.0.1, so that one origin is declared secure. No loopback candidates
(they would pair with namespace b's own 127.0.0.1), and no mDNS names for host candidates
(Janus cannot resolve them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.chromium import CHROMIUM, FLAGS
from tests.netns import VethPair

WAIT_MS = 20_000


def flags(origin: str) -> list[str]:
    return [f for f in FLAGS if f != "--allow-loopback-in-peer-connection"] + [
        f"--unsafely-treat-insecure-origin-as-secure={origin}",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        # getDisplayMedia: pick the (fake) screen without a picker.
        "--auto-select-desktop-capture-source=Entire screen",
    ]


@contextmanager
def browser_in(net: VethPair, origin: str) -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=net.wrapper(net.b, CHROMIUM), headless=True, args=flags(origin)
        )
        try:
            yield browser
        finally:
            browser.close()


class DemoPage:
    """The demo page of one room, joined with `token`; reads what the page itself shows."""

    def __init__(self, browser: Browser, origin: str, room: str, token: str) -> None:
        # The page's CSP has no 'unsafe-eval', which Playwright's wait_for_function needs.
        self.page: Page = browser.new_page(bypass_csp=True)
        self.errors: list[str] = []
        self.console: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        self.opened = time.monotonic()
        self.page.goto(f"{origin}/demo/rooms/{room}#token={token}")

    def wait(self, expression: str, timeout_ms: int = WAIT_MS) -> Any:
        """Wait until `expression` is truthy on the page; fails with the page's own log."""
        try:
            return self.page.wait_for_function(expression, timeout=timeout_ms).json_value()
        except Exception as exc:
            raise AssertionError(f"page never had {expression!r}: {self.describe()}") from exc

    def evaluate(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def events(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.evaluate("window.demo ? window.demo.events : []")
        return found

    def event_at_s(self, kind: str) -> float | None:
        """Wall-clock seconds of the page's first `kind` event (the page logs Date.now())."""
        return next((e["at"] / 1000 for e in self.events() if e["type"] == kind), None)

    def frames_decoded(self) -> dict[str, int]:
        """Per remote tile (user/source): video frames decoded, as the page's numbers say."""
        found: dict[str, int] = self.evaluate(
            """Object.fromEntries([...document.querySelectorAll('.tile[data-frames-decoded]')]
                 .map((t) => [`${t.dataset.user}/${t.dataset.source}`, Number(t.dataset.framesDecoded)]))"""
        )
        return found

    def describe(self) -> str:
        try:
            state = self.evaluate(
                "({status: document.getElementById('status').textContent,"
                " notice: document.getElementById('notice').textContent,"
                " events: window.demo && window.demo.events, error: window.demo && window.demo.error})"
            )
        except Exception as exc:  # noqa: BLE001 (the page may be gone)
            state = repr(exc)
        return f"{state}; errors {self.errors}; console {self.console[-20:]}"

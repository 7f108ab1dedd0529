"""One participant's Janus session over the HTTP API, driven by Callscope's signaling.

A session holds the participant's handles (one publisher, one subscriber per watched feed).
A long poll (`GET /janus/<session>`) keeps it alive and reads its events: an event some request
waits for (`wait()`: the SDP answer to a publish, the offer of a subscription) resolves that
waiter; every other event goes to `on_event` (trickle candidates, webrtcup, hangup, slow link).
Every wait is bounded; the pin and SDPs travel in bodies and are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from typing import Any

import httpx

from callscope.media.janus_api import VIDEOROOM, JanusError

LOST_AFTER_FAILURES = 10  # failed long polls in a row (0.5 s apart) before the session is lost
Event = dict[str, Any]
Predicate = Callable[[Event], bool]


def plugin_data(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = event.get("plugindata", {}).get("data", {})
    return data


class JanusSession:
    def __init__(
        self,
        http: httpx.AsyncClient,
        api_url: str,
        on_event: Callable[[int, Event], None],
        on_lost: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self._http, self._url = http, api_url
        self._on_event = on_event
        self.on_lost = on_lost
        self.id = 0
        self._waiters: list[tuple[int, Predicate, asyncio.Future[Event]]] = []
        self._poll: asyncio.Task[None] | None = None
        self.closed = False

    async def _post(self, url: str, body: dict[str, Any], timeout: float = 10.0) -> Event:
        try:
            response = await self._http.post(
                url, json={**body, "transaction": secrets.token_hex(8)}, timeout=timeout
            )
            answer: Event = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise JanusError(f"Janus did not answer: {type(exc).__name__}") from exc
        if answer.get("janus") == "error":
            error = answer.get("error", {})
            raise JanusError(f"Janus: {error.get('reason')} ({error.get('code')})")
        return answer

    async def create(self) -> None:
        self.id = int((await self._post(self._url, {"janus": "create"}))["data"]["id"])
        self._poll = asyncio.create_task(self._long_poll(), name=f"janus-session-{self.id}")

    async def attach(self, opaque_id: str) -> int:
        body = {"janus": "attach", "plugin": VIDEOROOM, "opaque_id": opaque_id}
        return int((await self._post(f"{self._url}/{self.id}", body))["data"]["id"])

    async def detach(self, handle: int) -> None:
        if self.closed:  # the session is gone with its handles (Janus died, or destroyed)
            return
        with contextlib.suppress(JanusError):
            await self._post(f"{self._url}/{self.id}/{handle}", {"janus": "detach"}, timeout=3.0)

    async def message(self, handle: int, body: dict[str, Any], jsep: dict[str, str] | None = None) -> Event:
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        answer = await self._post(f"{self._url}/{self.id}/{handle}", request)
        data = plugin_data(answer)
        if "error" in data:
            raise JanusError(f"Janus videoroom: {data['error']} ({data.get('error_code')})")
        return answer

    async def trickle(self, handle: int, candidate: dict[str, Any] | None) -> None:
        body = {"janus": "trickle", "candidate": candidate if candidate else {"completed": True}}
        await self._post(f"{self._url}/{self.id}/{handle}", body)

    def expect(self, handle: int, predicate: Predicate) -> asyncio.Future[Event]:
        """Register before sending the request whose asynchronous answer `predicate` matches."""
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append((handle, predicate, future))
        return future

    async def wait(self, future: asyncio.Future[Event], timeout: float = 10.0) -> Event:
        try:
            event = await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise JanusError(f"Janus did not answer within {timeout} s") from exc
        finally:
            self._waiters = [w for w in self._waiters if w[2] is not future]
        data = plugin_data(event)
        if "error" in data:
            raise JanusError(f"Janus videoroom: {data['error']} ({data.get('error_code')})")
        return event

    def _dispatch(self, event: Event) -> None:
        handle = int(event.get("sender") or 0)
        for waiter in self._waiters:
            h, predicate, future = waiter
            if h == handle and not future.done() and (predicate(event) or "error" in plugin_data(event)):
                future.set_result(event)
                return
        self._on_event(handle, event)

    async def _long_poll(self) -> None:
        failures = 0
        while not self.closed:
            try:
                response = await self._http.get(f"{self._url}/{self.id}?maxev=10", timeout=40)
                events = response.json()
                failures = 0
            except (httpx.HTTPError, ValueError):
                failures += 1
                if failures > LOST_AFTER_FAILURES:
                    self._lost("media server unreachable")
                    return
                await asyncio.sleep(0.5)
                continue
            if isinstance(events, dict) and events.get("janus") == "error":
                # "No such session": Janus restarted, or dropped the session.
                self._lost(f"media session ended: {events.get('error', {}).get('reason', '')}")
                return
            for event in events if isinstance(events, list) else [events]:
                if isinstance(event, dict) and event.get("janus") != "keepalive":
                    self._dispatch(event)

    def _lost(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.on_lost(reason)

    async def destroy(self) -> None:
        already = self.closed
        self.closed = True
        if self._poll is not None:
            self._poll.cancel()
        for _, _, future in self._waiters:
            if not future.done():
                future.cancel()
        if not already:
            with contextlib.suppress(JanusError):
                await self._post(f"{self._url}/{self.id}", {"janus": "destroy"}, timeout=3.0)

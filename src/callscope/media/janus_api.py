"""A small async client for one Janus node: its admin API and a VideoRoom control session.

Only what the control plane needs: health (`ping`, `list_sessions` on the admin API) and
synchronous VideoRoom requests (`create`, `destroy`, `exists`, `list`, `kick`) on one long-lived
session, kept alive by a long poll (Janus drops a session idle for `session_timeout`, 60 s).
Secrets travel in request bodies and are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from callscope.errors import CallscopeError

VIDEOROOM = "janus.plugin.videoroom"
CONTROL_OPAQUE_ID = "callscope-control"


class JanusError(CallscopeError):
    """Janus refused a request, or did not answer."""

    status = 502
    code = "media_server_error"


@dataclass(frozen=True)
class NodeEndpoints:
    """How Callscope reaches one Janus node. Secrets are plain here (held by the controller)."""

    name: str
    api_url: str  # .../janus
    admin_url: str  # .../admin
    admin_secret: str
    admin_key: str


def _tx() -> str:
    return secrets.token_hex(8)


class JanusClient:
    def __init__(self, node: NodeEndpoints, http: httpx.AsyncClient) -> None:
        self.node = node
        self._http = http
        self._session: int | None = None
        self._handle: int | None = None
        self._poll: asyncio.Task[None] | None = None

    async def _post(self, url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        body = {**body, "transaction": _tx()}
        try:
            response = await self._http.post(url, json=body, timeout=timeout)
            answer: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise JanusError(f"Janus {self.node.name} did not answer: {type(exc).__name__}") from exc
        if answer.get("janus") == "error":
            error = answer.get("error", {})
            raise JanusError(f"Janus {self.node.name}: {error.get('reason')} ({error.get('code')})")
        return answer

    async def admin(self, request: str, timeout: float = 2.0, **fields: Any) -> dict[str, Any]:
        body = {"janus": request, "admin_secret": self.node.admin_secret, **fields}
        return await self._post(self.node.admin_url, body, timeout)

    async def ping(self, timeout: float = 1.0) -> int:
        """Sessions on the node (our own control session included); raises JanusError when down."""
        answer = await self.admin("list_sessions", timeout=timeout)
        return len(answer.get("sessions", []))

    # -- the VideoRoom control session -------------------------------------------------------

    async def open(self) -> None:
        """Create the control session and its VideoRoom handle (again after a restart)."""
        await self.close()
        created = await self._post(self.node.api_url, {"janus": "create"}, 5.0)
        self._session = int(created["data"]["id"])
        attached = await self._post(
            f"{self.node.api_url}/{self._session}",
            {"janus": "attach", "plugin": VIDEOROOM, "opaque_id": CONTROL_OPAQUE_ID},
            5.0,
        )
        self._handle = int(attached["data"]["id"])
        self._poll = asyncio.create_task(self._keepalive(self._session), name=f"janus-poll-{self.node.name}")

    async def _keepalive(self, session: int) -> None:
        # A long poll keeps the session alive and drains its (uninteresting) events.
        url = f"{self.node.api_url}/{session}?maxev=10"
        while True:
            try:
                await self._http.get(url, timeout=40)
            except httpx.HTTPError:
                await asyncio.sleep(1)

    async def close(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        session, self._session, self._handle = self._session, None, None
        if session is not None:
            with contextlib.suppress(JanusError):  # a dead node took the session with it
                await self._post(f"{self.node.api_url}/{session}", {"janus": "destroy"}, 2.0)

    async def videoroom(self, request: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """A synchronous VideoRoom request on the control handle; returns its `data`."""
        if self._session is None or self._handle is None:
            raise JanusError(f"Janus {self.node.name}: no control session")
        answer = await self._post(
            f"{self.node.api_url}/{self._session}/{self._handle}",
            {"janus": "message", "body": {"request": request, **fields}},
            timeout,
        )
        data: dict[str, Any] = answer.get("plugindata", {}).get("data", {})
        if data.get("videoroom") == "event" and "error" in data:
            raise JanusError(f"Janus {self.node.name} videoroom {request}: {data['error']}")
        return data

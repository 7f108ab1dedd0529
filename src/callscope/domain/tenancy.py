"""Accounts own projects; projects own apps; credentials belong to an app (glossary)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class App:
    app_id: str
    project_id: str
    account_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IngestScope:
    """What an ingest credential may write: one app, and optionally one room and one user.

    `client_ip` is the address a browser's request came from (ingest tokens only: a request
    signed with the app's secret key comes from the customer's servers, whose address says
    nothing about the participant). A browser cannot know its own public address, so join
    events take this one when they carry none.
    """

    app_id: str
    room_id: str | None = None
    user_id: str | None = None
    client_ip: str = ""

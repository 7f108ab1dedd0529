"""How a command reaches Callscope: open the store itself, or ask the server that owns it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import httpx
from pydantic import ValidationError

from callscope.api.deps import Services
from callscope.app import build_services
from callscope.errors import CallscopeError, StoreBusy
from callscope.settings import Settings


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except (ValidationError, CallscopeError) as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def local_services(settings: Settings) -> Iterator[Services | None]:
    """Services on the store, or None when a running server owns it (use `admin_client`)."""
    try:
        services = build_services(settings)
    except StoreBusy:
        yield None
        return
    except CallscopeError as exc:
        raise click.ClickException(exc.message) from exc
    try:
        yield services
    finally:
        services.close()


def admin_client(settings: Settings) -> httpx.Client:
    token = settings.admin_token.get_secret_value()
    return httpx.Client(
        base_url=settings.resolved_public_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def raise_for_problem(response: httpx.Response) -> None:
    if response.is_error:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise click.ClickException(f"{response.status_code}: {detail}")

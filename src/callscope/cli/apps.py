"""`callscope apps create|list`."""

from __future__ import annotations

import click

from callscope.cli.context import admin_client, load_settings, local_services, raise_for_problem


@click.group()
def apps() -> None:
    """Create and list apps (each has its own data and credentials)."""


@apps.command("create")
@click.argument("name")
@click.option("--project", "project_id", default="default", show_default=True)
def create(name: str, project_id: str) -> None:
    """Create an app; prints its id and secret API key (shown once, stored hashed)."""
    settings = load_settings()
    with local_services(settings) as services:
        if services is not None:
            app, api_key = services.tenancy.create_app(name, project_id=project_id)
            app_id = app.app_id
        else:
            with admin_client(settings) as client:
                response = client.post("/v1/admin/apps", json={"name": name, "project_id": project_id})
                raise_for_problem(response)
                app_id, api_key = response.json()["app_id"], response.json()["api_key"]
    click.echo(f"app_id:  {app_id}")
    click.echo(f"api_key: {api_key}")
    click.echo("Keep the API key secret; it is not shown again.", err=True)


@apps.command("list")
def list_apps() -> None:
    """List apps."""
    settings = load_settings()
    with local_services(settings) as services:
        if services is not None:
            rows = [(a.app_id, a.project_id, a.name) for a in services.tenancy.list_apps()]
        else:
            with admin_client(settings) as client:
                response = client.get("/v1/admin/apps")
                raise_for_problem(response)
                rows = [(a["app_id"], a["project_id"], a["name"]) for a in response.json()]
    for app_id, project_id, name in rows:
        click.echo(f"{app_id}\t{project_id}\t{name}")

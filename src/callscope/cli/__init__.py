"""`callscope`: thin commands over library calls."""

from __future__ import annotations

import click

from callscope.cli.apps import apps
from callscope.cli.data import import_command, settings_command
from callscope.cli.metrics import metrics_command
from callscope.cli.serve import serve
from callscope.cli.simulate import simulate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="callscope")
def main() -> None:
    """Callscope: real-time communication quality, self-hosted."""


for command in (serve, simulate, apps, import_command, settings_command, metrics_command):
    main.add_command(command)

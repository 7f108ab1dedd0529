"""`callscope metrics`: the metric catalog, as docs/metrics.md has it."""

from __future__ import annotations

import click

from callscope.analytics.metrics import CATALOG
from callscope.analytics.metrics.docs import render


@click.command("metrics")
@click.option("--markdown", is_flag=True, help="Print the catalog as docs/metrics.md has it.")
def metrics_command(markdown: bool) -> None:
    """Print every metric with its definition, unit, thresholds and version."""
    if markdown:
        click.echo(render(CATALOG), nl=False)
        return
    for metric in CATALOG:
        click.echo(f"{metric.definition_version:<36} {metric.unit:<12} {metric.description.split(':')[0]}")

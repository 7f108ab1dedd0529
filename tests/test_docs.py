"""Docs that cannot drift: the settings reference is generated; the glossary keeps the vocabulary."""

from __future__ import annotations

from pathlib import Path

from callscope.analytics.metrics import CATALOG
from callscope.analytics.metrics.docs import render as metrics_reference
from callscope.cli.data import settings_reference
from callscope.settings import Settings

DOCS = Path(__file__).parent.parent / "docs"


def test_every_setting_is_described() -> None:
    undocumented = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undocumented == []


def test_settings_reference_is_current() -> None:
    assert (DOCS / "settings.md").read_text() == settings_reference(), (
        "docs/settings.md is stale: run `callscope settings --markdown > docs/settings.md`"
    )


def test_metrics_reference_is_current_and_complete() -> None:
    text = (DOCS / "metrics.md").read_text()
    assert text == metrics_reference(CATALOG), (
        "docs/metrics.md is stale: run `callscope metrics --markdown > docs/metrics.md`"
    )
    for metric in CATALOG:
        assert f"## `{metric.name}` (v{metric.version})" in text
        assert metric.description and metric.unit


def test_glossary_defines_the_vocabulary() -> None:
    glossary = (DOCS / "glossary.md").read_text().lower()
    for term in (
        "account",
        "project",
        "app",
        "room instance",
        "participant session",
        "stream",
        "sample",
        "event",
        "abnormal event",
        "ingest token",
        "outcome",
    ):
        assert f"**{term}**" in glossary, term


def test_readme_quickstart_is_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    block = readme.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert commands == ["make demo", "make test"]

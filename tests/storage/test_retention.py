"""Retention tiers are the engine's TTLs, set from the settings at start-up. The merge policy of
the tables ingest writes is set at start-up too (a constant, not a setting)."""

from __future__ import annotations

from callscope.analytics import rollups
from callscope.app import Services
from callscope.storage.migrations import INGEST_TABLES, MERGE_SELECTOR_BASE


def _create_query(services: Services, table: str) -> str:
    rows = services.backend.query(
        "SELECT create_table_query AS q FROM system.tables "
        "WHERE database = currentDatabase() AND name = {t:String}",
        {"t": table},
    )
    return str(rows[0]["q"])


def test_samples_and_minutes_expire_after_their_configured_days(services: Services) -> None:
    settings = services.settings
    assert f"TTL toDateTime(ts) + toIntervalDay({settings.sample_retention_days})" in _create_query(
        services, "samples"
    )
    assert (
        f"TTL toDateTime(minute) + toIntervalDay({settings.minute_rollup_retention_days})"
        in _create_query(services, "stream_minutes")
    )
    assert settings.sample_retention_days >= 14 and settings.minute_rollup_retention_days >= 31


def test_every_table_ingest_writes_merges_less_eagerly(services: Services) -> None:
    for table in (*INGEST_TABLES, *rollups.TABLES):
        assert f"merge_selector_base = {MERGE_SELECTOR_BASE}" in _create_query(services, table), table

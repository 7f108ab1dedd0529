"""Settings: typed, from CALLSCOPE_* variables, refusing default secrets outside demo mode."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from callscope.errors import ConfigError
from callscope.observability import JsonFormatter
from callscope.settings import DEMO_TOKEN_SECRET, Settings

LONG = "x" * 40


def test_default_secrets_are_refused_outside_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CALLSCOPE_TOKEN_SECRET", "CALLSCOPE_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="CALLSCOPE_TOKEN_SECRET"):
        Settings()
    with pytest.raises(ConfigError, match="CALLSCOPE_ADMIN_TOKEN"):
        Settings(token_secret=LONG)
    with pytest.raises(ConfigError, match="at least 32"):
        Settings(token_secret="short", admin_token=LONG)
    assert Settings(demo=True).token_secret.get_secret_value() == DEMO_TOKEN_SECRET


def test_environment_prefix_and_types(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CALLSCOPE_PORT", "9001")
    monkeypatch.setenv("CALLSCOPE_DATA_DIR", str(tmp_path))
    settings = Settings(demo=True)
    assert settings.port == 9001
    assert settings.resolved_store_url == f"chdb://{tmp_path / 'store'}"
    monkeypatch.setenv("CALLSCOPE_PORT", "not-a-port")
    with pytest.raises(ValueError, match="port"):
        Settings(demo=True)


def test_secrets_never_appear_in_repr_or_logs() -> None:
    settings = Settings(token_secret=LONG + "-secret-one", admin_token=LONG + "-secret-two")
    assert LONG not in repr(settings) and LONG not in str(settings)
    record = logging.makeLogRecord({"msg": "settings", "settings": settings})
    assert LONG not in JsonFormatter().format(record)

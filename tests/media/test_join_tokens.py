"""Join tokens on their own: signature, expiry, lifetime cap, and a deny list that survives a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from callscope.errors import AuthError
from callscope.media.join_tokens import DenyList, JoinTokens

SECRET = "a-join-token-secret-that-is-long-enough-0123"
NOW = 1_800_000_000


def _tokens(path: Path | None = None, max_ttl_s: int = 3600) -> JoinTokens:
    return JoinTokens(SECRET, max_ttl_s=max_ttl_s, deny=DenyList(path))


def test_a_token_carries_its_grant_and_its_lifetime_is_capped() -> None:
    tokens = _tokens(max_ttl_s=600)
    token, issued = tokens.issue(
        "app", "room", "ü ser", publish=False, subscribe=True, ttl_s=10_000, now_s=NOW
    )
    grant = tokens.verify(token, now_s=NOW + 599)
    assert grant == issued
    assert (grant.app_id, grant.room_id, grant.user_id, grant.publish, grant.subscribe) == (
        "app",
        "room",
        "ü ser",
        False,
        True,
    )
    assert grant.expires_at_s == NOW + 600
    with pytest.raises(AuthError, match="expired"):
        tokens.verify(token, now_s=NOW + 600)


def test_forged_altered_and_foreign_tokens_are_refused() -> None:
    tokens = _tokens()
    token, _ = tokens.issue("app", "room", "bob", publish=True, subscribe=True, ttl_s=600, now_s=NOW)
    prefix, payload, signature = token.split(".")
    other, _ = JoinTokens("x" * 40, max_ttl_s=3600, deny=DenyList(None)).issue(
        "app", "room", "bob", publish=True, subscribe=True, ttl_s=600, now_s=NOW
    )
    altered = f"{prefix}.{payload[:-2]}AA.{signature}"
    for bad in (other, altered, f"cst1.{payload}.{signature}", "csj1..", "", "csj1.e30.x"):
        with pytest.raises(AuthError):
            tokens.verify(bad, now_s=NOW)


def test_a_revoked_token_stays_revoked_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / "denied.json"
    tokens = _tokens(path)
    token, grant = tokens.issue("app", "room", "bob", publish=True, subscribe=True, ttl_s=600, now_s=NOW)
    kept, _ = tokens.issue("app", "room", "bob", publish=True, subscribe=True, ttl_s=600, now_s=NOW)
    tokens.deny_list.deny(grant.token_id, grant.expires_at_s, NOW)
    restarted = _tokens(path)
    with pytest.raises(AuthError, match="revoked"):
        restarted.verify(token, now_s=NOW + 1)
    assert restarted.verify(kept, now_s=NOW + 1).user_id == "bob"  # a new token still works
    # Expired entries are pruned on the next addition.
    restarted.deny_list.deny("other", NOW + 10_000, NOW + 700)
    assert len(_tokens(path).deny_list) == 1

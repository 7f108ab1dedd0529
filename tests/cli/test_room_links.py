"""`callscope serve --demo` prints demo room page links whose join tokens the server accepts."""

from __future__ import annotations

import re
import time
from pathlib import Path

from callscope.cli.serve import DEMO_APP_ID, DEMO_ROOM, DEMO_ROOM_USERS, _room_links
from callscope.media.join_tokens import DenyList, JoinTokens
from callscope.settings import Settings


def test_demo_links_carry_join_tokens_for_the_demo_room(tmp_path: Path) -> None:
    settings = Settings(demo=True, data_dir=tmp_path, janus_managed=True, public_url="http://127.0.0.1:8000")
    links = re.findall(r"(http://\S+)/demo/rooms/(\S+)#token=(\S+)", _room_links(settings))
    assert [(base, room) for base, room, _ in links] == [("http://127.0.0.1:8000", DEMO_ROOM)] * 2
    server = JoinTokens(
        settings.token_secret.get_secret_value(),
        max_ttl_s=settings.join_token_max_ttl_s,
        deny=DenyList(tmp_path / "denied.json"),
    )
    grants = [server.verify(token, now_s=int(time.time())) for _, _, token in links]
    assert [(g.app_id, g.room_id, g.user_id) for g in grants] == [
        (DEMO_APP_ID, DEMO_ROOM, user) for user in DEMO_ROOM_USERS
    ]
    assert all(g.publish and g.subscribe for g in grants)


def test_without_a_media_server_the_banner_says_how_to_get_one(tmp_path: Path) -> None:
    text = _room_links(Settings(demo=True, data_dir=tmp_path, janus_managed=False, janus_nodes=[]))
    assert "CALLSCOPE_JANUS_MANAGED=true" in text and "#token=" not in text

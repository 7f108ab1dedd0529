"""`GET /demo/rooms/{room_id}`: a page that joins a media room with camera and microphone.

Plain HTML and a module script over the JS SDK (static/sdk/rooms.js); nothing is computed here.
The join token travels in the URL fragment (`#token=csj1…`), which browsers never send to a
server: it stays out of access logs, proxies and Referer headers. The app's backend mints the
token with its secret key and links to the page; `callscope serve --demo` prints such links.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from callscope.domain.ids import ID_MAX_CHARS
from callscope.errors import BadRequest, NotFound

router = APIRouter(tags=["demo"], include_in_schema=False)
STATIC = Path(__file__).parent / "static" / "demo"
ASSETS = {"room.js": "text/javascript", "room.css": "text/css"}
# Same-origin everything: the page talks to this Callscope only (signaling, ingest, the SDK).
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "media-src 'self' blob: mediastream:; img-src 'self' data:; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@router.get("/demo/rooms/{room_id}")
async def room_page(room_id: str) -> FileResponse:
    if not room_id.strip() or len(room_id) > ID_MAX_CHARS:
        raise BadRequest("room_id is not a valid id", field="room_id")
    # The room comes from the path on the page itself; the token decides where it really joins.
    return FileResponse(STATIC / "room.html", media_type="text/html", headers=HEADERS)


@router.get("/demo/assets/{name}")
async def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise NotFound(f"no demo asset {name!r}")
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers=HEADERS)

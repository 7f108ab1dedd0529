"""The captured Chromium getStats() fixtures as reports, and the normalizer run over them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from callscope.collectors.webrtc import WebRtcNormalizer
from callscope.domain.samples import Sample
from callscope.domain.webrtc import RtcStats, WebRtcReport

CHROME = Path(__file__).parent.parent / "fixtures" / "stats" / "chrome"


def load(name: str) -> list[dict[str, Any]]:
    raw: list[dict[str, Any]] = json.loads((CHROME / name).read_text())
    return raw


def reports(raw: list[dict[str, Any]], pc: str) -> list[WebRtcReport]:
    """Connection `pc`'s reports as user-<pc>, receiving from the other side."""
    other = "b" if pc == "a" else "a"
    return [
        WebRtcReport(
            room_id="r",
            user_id=f"user-{pc}",
            session_id=f"s-{pc}",
            ts=r["ts"],
            pc_id=pc,
            peer_id=f"user-{other}",
            stats=msgspec.convert(r["stats"], list[RtcStats]),
        )
        for r in raw
        if r["pc"] == pc
    ]


def run_normalizer(
    items: list[WebRtcReport], normalizer: WebRtcNormalizer | None = None
) -> list[list[Sample]]:
    """The samples of each report in order, each committed before the next (as ingest does)."""
    normalizer = normalizer or WebRtcNormalizer()
    out = []
    for report in items:
        result = normalizer.normalize("app", report, float(report.ts))  # type: ignore[arg-type]
        normalizer.commit(result)
        out.append(result.samples)
    return out

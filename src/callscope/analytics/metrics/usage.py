"""Usage: minutes of received media, split into video resolution tiers.

Usage counts what participants received (a subscribed stream's windows), which is what the
vendors bill. Tiers go by the received frame height of each window: SD below 720 px, HD from
720 px, UHD from 1080 px (Agora bills by the same pixel steps: ≤ 1280×720 HD, ≤ 1920×1080 Full HD).
A window of unknown height counts in `video_minutes` but in no tier.
"""

from __future__ import annotations

from callscope.analytics.metrics.catalog import Aggregation, Better, Metric, Vector

_MINUTES = "window_ms / 60000"
_VIDEO = "direction = 'down' AND kind IN ('video', 'screen')"


def _minutes(name: str, description: str, where: str, vectors: tuple[Vector, ...]) -> Metric:
    return Metric(
        name=name,
        unit="minutes",
        description=description,
        better=Better.HIGHER,
        version=1,
        source="samples",
        fields=("window_ms", "kind", "direction", "height_px"),
        aggregation=Aggregation.SUM,
        value=_MINUTES,
        where=where,
        vectors=vectors,
    )


def _v(height: int, window_ms: int = 60_000, kind: str = "video") -> dict[str, object]:
    return {"kind": kind, "direction": "down", "window_ms": window_ms, "height_px": height}


_MIX = (_v(360), _v(720), _v(1080), _v(0), _v(0, 30_000, "audio"), {**_v(720), "direction": "up"})

METRICS = (
    _minutes(
        "audio_minutes",
        "Minutes of received audio.",
        "direction = 'down' AND kind = 'audio'",
        (Vector("received audio only", _MIX, 0.5), Vector("none", (), 0.0)),
    ),
    _minutes(
        "video_minutes",
        "Minutes of received video and screen share, any resolution.",
        _VIDEO,
        (Vector("all heights", _MIX, 4.0),),
    ),
    _minutes(
        "video_sd_minutes",
        "Minutes of received video below 720 px high.",
        f"{_VIDEO} AND height_px > 0 AND height_px < 720",
        (Vector("360p", _MIX, 1.0),),
    ),
    _minutes(
        "video_hd_minutes",
        "Minutes of received video 720–1079 px high.",
        f"{_VIDEO} AND height_px >= 720 AND height_px < 1080",
        (Vector("720p, sent video excluded", _MIX, 1.0),),
    ),
    _minutes(
        "video_uhd_minutes",
        "Minutes of received video 1080 px high or more.",
        f"{_VIDEO} AND height_px >= 1080",
        (Vector("1080p", _MIX, 1.0),),
    ),
    _minutes(
        "media_minutes",
        "Minutes of received audio plus received video (the usage total).",
        "direction = 'down' AND kind IN ('audio', 'video', 'screen')",
        (Vector("audio + video", _MIX, 4.5),),
    ),
)

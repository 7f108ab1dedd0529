"""Scores: audio MOS by the ITU-T G.107 E-model, and Callscope's documented video score.

Both are computed per window of a received stream and averaged like any other mean. Anchors
§4.1 lists two formula bugs in well-known tools; each has a regression vector here:
- the delay impairment is `0.11·(Ta − 177.3)` above 177.3 ms, not `0.11·Ta − 177.3` (which
  makes a long delay *raise* MOS);
- packet loss enters as a percentage (Ppl = 100 × loss_ratio); passing the 0..1 fraction
  under-weights loss about 100×.
"""

from __future__ import annotations

from callscope.analytics.metrics.catalog import NAN, Aggregation, Better, Metric, Thresholds, Vector

# Mouth-to-ear delay estimate (ms): half the RTT, a jitter buffer of twice the jitter, and one
# 20 ms Opus frame. An unmeasured RTT (common on received audio) counts as 0: the score then
# reflects loss and jitter only, and says so in its notes.
# Intermediate terms are named once (query-wide aliases) and reused: written out, R appeared
# six times in the MOS and Ta twice in each R, and the engine re-parses this SQL on every insert.
_TA_MS = "((if(isFinite(rtt_ms), rtt_ms, 0) / 2 + 2 * jitter_ms + 20) AS audio_mos_v1__ta_ms)"
# G.107 delay impairment, Cole & Rosenbluth's closed form for the default parameters.
_ID = f"(0.024 * {_TA_MS} + 0.11 * greatest(audio_mos_v1__ta_ms - 177.3, 0))"
# Effective equipment impairment: Ie = 0 (wideband Opus is transparent at call bitrates),
# Bpl = 10 (PLC without FEC), random loss (BurstR = 1). Ppl is in percent.
_PPL = "(100 * loss_ratio)"
_IE_EFF = f"(95 * {_PPL} / ({_PPL} + 10))"
_R = f"((93.2 - {_ID} - {_IE_EFF}) AS audio_mos_v1__r)"
_MOS = (
    f"multiIf({_R} < 0, 1, audio_mos_v1__r > 100, 4.5, 1 + 0.035 * audio_mos_v1__r "
    "+ 0.000007 * audio_mos_v1__r * (audio_mos_v1__r - 60) * (100 - audio_mos_v1__r))"
)

AUDIO_MOS = Metric(
    name="audio_mos",
    unit="MOS 1..5",
    description=(
        "Mean opinion score of received audio by the ITU-T G.107 E-model: "
        "Ta = RTT/2 + 2·jitter + 20 ms; Id = 0.024·Ta + 0.11·(Ta − 177.3)·[Ta > 177.3]; "
        "Ie,eff = 95·Ppl/(Ppl + 10) with Ppl = 100·loss_ratio; R = 93.2 − Id − Ie,eff; "
        "MOS = 1 + 0.035·R + 7·10⁻⁶·R·(R − 60)·(100 − R), 1 below R = 0 and 4.5 above R = 100. "
        "Per window of received audio, then averaged."
    ),
    better=Better.HIGHER,
    version=1,
    source="samples",
    fields=("rtt_ms", "jitter_ms", "loss_ratio", "kind", "direction"),
    aggregation=Aggregation.RATIO,
    value=_MOS,
    where="kind = 'audio' AND direction = 'down'",
    thresholds=Thresholds(4.0, 3.5, "Twilio low-mos warning under 3.5; 4.0 and above is toll quality"),
    vectors=(
        Vector(
            "clean network: R = 92.72",
            ({"kind": "audio", "direction": "down", "rtt_ms": 0.0, "jitter_ms": 0.0, "loss_ratio": 0.0},),
            4.39980,
            1e-5,
        ),
        Vector(
            "regression: long delay lowers MOS (Ta = 220 ms, R = 83.223)",
            ({"kind": "audio", "direction": "down", "rtt_ms": 400.0, "jitter_ms": 0.0, "loss_ratio": 0.0},),
            4.13978,
            1e-5,
        ),
        Vector(
            "regression: loss is a percentage (5 % → Ie,eff = 31.67, R = 61.05)",
            ({"kind": "audio", "direction": "down", "rtt_ms": 0.0, "jitter_ms": 0.0, "loss_ratio": 0.05},),
            3.15440,
            1e-5,
        ),
        Vector(
            "very bad network clamps to 1",
            (
                {
                    "kind": "audio",
                    "direction": "down",
                    "rtt_ms": 2000.0,
                    "jitter_ms": 200.0,
                    "loss_ratio": 0.5,
                },
            ),
            1.0,
        ),
        Vector(
            "unmeasured RTT counts as 0; unmeasured loss leaves the window out",
            (
                {"kind": "audio", "direction": "down", "rtt_ms": NAN, "jitter_ms": 0.0, "loss_ratio": 0.0},
                {"kind": "audio", "direction": "down", "rtt_ms": 0.0, "jitter_ms": 0.0, "loss_ratio": NAN},
                {"kind": "audio", "direction": "up", "rtt_ms": 0.0, "jitter_ms": 0.0, "loss_ratio": 0.9},
            ),
            4.39980,
            1e-5,
        ),
    ),
    notes="ITU-T G.107 (06/2015) §B; anchors §4.1 for the variants and the two bugs avoided.",
)

_FREEZE_SHARE = "(freeze_ms / window_ms)"
_FPS_FACTOR = "least(fps / 24, 1)"
_RES_FACTOR = "if(height_px > 0, 0.6 + 0.4 * least(height_px / 720, 1), 1)"
VIDEO_SCORE = Metric(
    name="video_score",
    unit="score 1..5",
    description=(
        "Callscope's video quality score of received video per window: "
        "1 + 4 × (1 − frozen share) × min(fps/24, 1) × (0.6 + 0.4 × min(height/720, 1)), "
        "averaged. 5 = 720p or better at 24 fps or more with no freeze; a window frozen "
        "throughout scores 1. Unknown height does not lower it."
    ),
    better=Better.HIGHER,
    version=1,
    source="samples",
    fields=("freeze_ms", "window_ms", "fps", "height_px", "kind", "direction"),
    aggregation=Aggregation.RATIO,
    value=f"1 + 4 * (1 - {_FREEZE_SHARE}) * {_FPS_FACTOR} * {_RES_FACTOR}",
    where="direction = 'down' AND kind IN ('video', 'screen') AND window_ms > 0",
    thresholds=Thresholds(4.0, 3.0, "ours"),
    vectors=(
        Vector(
            "720p30, no freeze",
            ({"kind": "video", "direction": "down", "window_ms": 5000, "fps": 30.0, "height_px": 720},),
            5.0,
        ),
        Vector(
            "360p30",
            ({"kind": "video", "direction": "down", "window_ms": 5000, "fps": 30.0, "height_px": 360},),
            4.2,
        ),
        Vector(
            "720p at 12 fps",
            ({"kind": "video", "direction": "down", "window_ms": 5000, "fps": 12.0, "height_px": 720},),
            3.0,
        ),
        Vector(
            "frozen half the window",
            (
                {
                    "kind": "video",
                    "direction": "down",
                    "window_ms": 5000,
                    "freeze_ms": 2500,
                    "fps": 30.0,
                    "height_px": 1080,
                },
            ),
            3.0,
        ),
    ),
    notes="No standard no-reference video MOS exists for WebRTC stats; this one is ours, versioned.",
)

METRICS = (AUDIO_MOS, VIDEO_SCORE)

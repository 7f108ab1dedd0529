"""Ingest over real HTTP into the real store: outcomes per item, bad input, idempotency."""

from __future__ import annotations

import gzip

import httpx
import orjson
import pytest

from callscope.api.deps import Services
from tests.helpers import bearer, event, now_ms, sample


def stored(services: Services, app_id: str, table: str = "samples") -> int:
    return int(
        services.backend.scalar(f"SELECT count() FROM {table} WHERE app_id = {{a:String}}", {"a": app_id})
    )


def fingerprint(services: Services, app_id: str) -> tuple[int, int]:
    """Row count and an order-independent hash of every stored sample of the app."""
    row = services.backend.query(
        "SELECT count() AS n, groupBitXor(cityHash64(*)) AS h FROM samples WHERE app_id = {a:String}",
        {"a": app_id},
    )[0]
    return int(row["n"]), int(row["h"])


def post(client: httpx.Client, key: str, kind: str, items: list[object], **headers: str) -> httpx.Response:
    return client.post(f"/v1/ingest/{kind}", json={kind: items}, headers={**bearer(key), **headers})


def test_samples_and_events_are_stored_and_counted(
    client: httpx.Client, services: Services, app_creds: tuple[str, str]
) -> None:
    app_id, key = app_creds
    response = post(client, key, "samples", [sample(), sample(kind="audio", direction="up", peer_id="")])
    assert response.status_code == 200
    assert response.json() | {"items": []} == {
        "total": 2,
        "accepted": 2,
        "duplicate": 0,
        "invalid": 0,
        "rate_limited": 0,
        "replayed": False,
        "items": [],
    }
    assert post(client, key, "events", [event(), event(type="camera_off")]).json()["accepted"] == 2
    assert stored(services, app_id) == 2
    assert stored(services, app_id, "events") == 2
    row = services.backend.query(
        "SELECT rtt_ms, loss_ratio, width_px, isNaN(app_cpu_ratio) AS cpu_unknown FROM samples "
        "WHERE app_id = {a:String} AND kind = 'video'",
        {"a": app_id},
    )[0]
    assert row == {"rtt_ms": 42.0, "loss_ratio": pytest.approx(0.01), "width_px": 1280, "cpu_unknown": 1}


BAD_ITEMS = [
    ({"rtt_ms": "fast"}, "wrong_type", "rtt_ms"),
    ({"rtt_ms": -5}, "out_of_range", "rtt_ms"),
    ({"rtt_ms": 3_600_000}, "out_of_range", "rtt_ms"),  # an hour
    ({"loss_ratio": 5.0}, "out_of_range", "loss_ratio"),  # a percentage sent as a ratio
    ({"fps": 1e9}, "out_of_range", "fps"),
    ({"kind": "hologram"}, "invalid_value", "kind"),
    ({"room_id": ""}, "bad_id", "room_id"),
    ({"user_id": "bob\nmallory"}, "bad_id", "user_id"),
    ({"session_id": " padded "}, "bad_id", "session_id"),
    ({"room_id": "r" * 129}, "bad_id", "room_id"),
    ({"rtt": 40}, "unknown_field", "rtt"),
    ({"ts": now_ms() + 3_600_000}, "timestamp_in_future", "ts"),
    ({"ts": now_ms() - 400 * 86_400_000}, "timestamp_too_old", "ts"),
    ({"ts": "yesterday"}, "bad_timestamp", "ts"),
    ({"direction": "none"}, "inconsistent", "direction"),
    ({"packets_expected": 10, "packets_lost": 11}, "inconsistent", "packets_lost"),
]


@pytest.mark.parametrize(("override", "reason", "field"), BAD_ITEMS, ids=[r for _, r, _ in BAD_ITEMS])
def test_bad_item_is_named_and_good_items_still_stored(
    client: httpx.Client,
    services: Services,
    app_creds: tuple[str, str],
    override: dict[str, object],
    reason: str,
    field: str,
) -> None:
    app_id, key = app_creds
    post(client, key, "samples", [sample(), sample()])
    before = fingerprint(services, app_id)
    response = post(client, key, "samples", [sample(), sample(**override), sample()])
    body = response.json()
    assert response.status_code == 200, body
    assert (body["accepted"], body["invalid"]) == (2, 1)
    [problem] = body["items"]
    assert problem["index"] == 1 and problem["outcome"] == "invalid"
    assert (problem["reason"], problem["field"]) == (reason, field)
    assert field in problem["message"]
    assert fingerprint(services, app_id)[0] == before[0] + 2


def test_missing_field_is_named(client: httpx.Client, app_creds: tuple[str, str]) -> None:
    item = sample()
    del item["session_id"]
    [problem] = post(client, app_creds[1], "samples", [item, sample()]).json()["items"]
    assert (problem["reason"], problem["field"]) == ("missing_field", "session_id")


def test_nan_and_infinity_are_refused_per_item(
    client: httpx.Client, services: Services, app_creds: tuple[str, str]
) -> None:
    app_id, key = app_creds
    good = orjson.dumps(sample()).decode()
    body = f'{{"samples": [{good}, {good.replace("42.0", "NaN")}, {good.replace("3.5", "Infinity")}]}}'
    # The NaN and Infinity items carry the same key fields as `good`: only the good one may land.
    response = client.post("/v1/ingest/samples", content=body, headers=bearer(key))
    result = response.json()
    assert (result["accepted"], result["invalid"]) == (1, 2)
    assert {(p["reason"], p["field"]) for p in result["items"]} == {
        ("not_finite", "rtt_ms"),
        ("not_finite", "jitter_ms"),
    }
    assert stored(services, app_id) == 1


def test_malformed_json_is_a_400_problem(
    client: httpx.Client, services: Services, app_creds: tuple[str, str]
) -> None:
    app_id, key = app_creds
    response = client.post("/v1/ingest/samples", content=b'{"samples": [{"room_id": ', headers=bearer(key))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "malformed_body" and "not valid JSON" in response.json()["detail"]
    wrong_shape = client.post("/v1/ingest/samples", json={"sample": []}, headers=bearer(key))
    assert wrong_shape.status_code == 400 and '"samples"' in wrong_shape.json()["detail"]
    assert stored(services, app_id) == 0


def test_all_invalid_batch_is_422_with_summary(client: httpx.Client, app_creds: tuple[str, str]) -> None:
    response = post(client, app_creds[1], "samples", [sample(loss_ratio=2), "not an object"])
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "unprocessable" and body["invalid"] == 2
    assert [p["reason"] for p in body["items"]] == ["out_of_range", "not_an_object"]


def test_oversize_body_is_413_with_the_limit(
    client: httpx.Client, services: Services, app_creds: tuple[str, str]
) -> None:
    limit = services.settings.max_body_bytes
    response = client.post("/v1/ingest/samples", content=b"x" * (limit + 1), headers=bearer(app_creds[1]))
    assert response.status_code == 413
    assert str(limit) in response.json()["detail"]
    bomb = gzip.compress(b" " * (limit + 10))
    response = client.post(
        "/v1/ingest/samples", content=bomb, headers={**bearer(app_creds[1]), "Content-Encoding": "gzip"}
    )
    assert response.status_code == 413


def test_too_many_items_is_413(client: httpx.Client, services: Services, app_creds: tuple[str, str]) -> None:
    count = services.settings.max_items_per_batch + 1
    response = post(client, app_creds[1], "samples", [sample()] * count)
    assert response.status_code == 413
    assert str(services.settings.max_items_per_batch) in response.json()["detail"]


def test_gzip_body_is_accepted(client: httpx.Client, services: Services, app_creds: tuple[str, str]) -> None:
    app_id, key = app_creds
    body = gzip.compress(orjson.dumps({"samples": [sample(), sample()]}))
    response = client.post(
        "/v1/ingest/samples", content=body, headers={**bearer(key), "Content-Encoding": "gzip"}
    )
    assert response.json()["accepted"] == 2
    assert stored(services, app_id) == 2


@pytest.mark.parametrize(
    "room_id",
    ["'; DROP TABLE samples; --", "Ünïcødé 会议室 🎥", 'quote"and\\backslash', "{x:String}"],
)
def test_odd_ids_round_trip_verbatim(
    client: httpx.Client, services: Services, app_creds: tuple[str, str], room_id: str
) -> None:
    app_id, key = app_creds
    assert post(client, key, "samples", [sample(room_id=room_id)]).json()["accepted"] == 1
    rows = services.backend.query("SELECT room_id FROM samples WHERE app_id = {a:String}", {"a": app_id})
    assert rows == [{"room_id": room_id}]
    assert services.backend.scalar("EXISTS TABLE samples") == 1


def test_repeated_items_are_duplicates_not_rows(
    client: httpx.Client, services: Services, app_creds: tuple[str, str]
) -> None:
    app_id, key = app_creds
    items = [sample(), sample()]
    assert post(client, key, "samples", items).json()["accepted"] == 2
    again = post(client, key, "samples", [*items, sample()]).json()
    assert (again["accepted"], again["duplicate"]) == (1, 2)
    within = post(client, key, "samples", [items[0] | {"ts": items[0]["ts"] + 0.5}] * 2).json()
    assert (within["accepted"], within["duplicate"]) == (1, 1)
    assert stored(services, app_id) == 4


def test_idempotency_key_replays_the_answer(
    client: httpx.Client, services: Services, app_creds: tuple[str, str]
) -> None:
    app_id, key = app_creds
    items = [sample(), sample(loss_ratio=7)]
    first = post(client, key, "samples", items, **{"Idempotency-Key": "batch-0001"}).json()
    assert (first["accepted"], first["invalid"], first["replayed"]) == (1, 1, False)
    second = post(client, key, "samples", items, **{"Idempotency-Key": "batch-0001"}).json()
    assert (second["accepted"], second["duplicate"], second["invalid"], second["replayed"]) == (0, 1, 1, True)
    assert stored(services, app_id) == 1
    bad_key = post(client, key, "samples", items, **{"Idempotency-Key": "has space"})
    assert bad_key.status_code == 400


def test_webrtc_report_envelope_errors_name_the_field(
    client: httpx.Client, services: Services, app_creds: tuple[str, str]
) -> None:
    app_id, key = app_creds
    response = client.post(
        "/v1/ingest/webrtc", json={"reports": [{"type": "outbound-rtp"}]}, headers=bearer(key)
    )
    assert response.status_code == 422
    assert (response.json()["items"][0]["reason"], response.json()["items"][0]["field"]) == (
        "unknown_field",
        "type",
    )
    assert stored(services, app_id) == 0


def test_connection_state_needs_a_known_state(client: httpx.Client, app_creds: tuple[str, str]) -> None:
    result = post(
        client,
        app_creds[1],
        "events",
        [event(type="ice_state", state="connected"), event(type="ice_state", state="bogus")],
    ).json()
    assert result["accepted"] == 1 and result["items"][0]["field"] == "state"


def _cors(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-") or k == "vary"}


def test_ingest_lane_keeps_what_the_middleware_gave_cors_ids_errors_and_fallback(
    client: httpx.Client, services: Services, app_creds: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest is served by `IngestLane`, ahead of FastAPI's router and every middleware: it adds
    the CORS headers CORSMiddleware adds to other routes (browsers post from any origin), request
    ids, the problem shape for errors and a 500 for the unexpected; a path the lane does not
    know still reaches the router."""
    app_id, key = app_creds
    origin = {"Origin": "https://customer.example"}
    ok = post(client, key, "samples", [sample()], **origin)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "*"
    assert "x-request-id" in ok.headers["access-control-expose-headers"].lower()
    assert len(ok.headers["x-request-id"]) == 32
    # The same CORS headers as CORSMiddleware gives a route behind it, with and without Origin.
    for extra in (origin, {}):
        routed = client.post(f"/v1/apps/{app_id}/ingest-tokens", json={}, headers={**bearer("x"), **extra})
        assert routed.status_code == 401
        assert _cors(post(client, key, "samples", [sample()], **extra)) == _cors(routed), extra
    denied = post(client, "not-a-key", "samples", [sample()], **origin)
    assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
    assert denied.headers["content-type"] == "application/problem+json"
    assert denied.json()["code"] == "unauthorized" and denied.headers["access-control-allow-origin"] == "*"
    unknown = post(client, key, "bogus", [sample()])
    assert unknown.status_code == 422 and unknown.json()["code"] == "unprocessable"
    assert "samples" in unknown.json()["detail"]

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the pipeline")

    monkeypatch.setattr(services.pipeline, "ingest", broken)
    failed = post(client, key, "samples", [sample()], **origin, **{"X-Request-ID": "bug-1"})
    assert failed.status_code == 500 and failed.json()["code"] == "internal_error"
    assert failed.headers["x-request-id"] == "bug-1" and failed.headers["access-control-allow-origin"] == "*"

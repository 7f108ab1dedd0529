"""Send a planned scenario through the real HTTP ingest path, faster than real time if asked.

Clock: simulated time runs `speedup` times faster than wall time and is anchored so that the run
ends when it finishes on the wall clock: origin = wall start - duration x (1 - 1/speedup). An
item is sent only once its simulated time has passed, so no timestamp is ever ahead of the
server (ingest refuses more than CALLSCOPE_MAX_CLOCK_SKEW_S ahead); at speed-up 1 the run is live,
and at a large speed-up it backfills the last `duration` (ingest refuses anything older than
CALLSCOPE_MAX_SAMPLE_AGE_S, 30 days by default; scenarios are at most 7 days long).

Each participant posts with its own ingest token, minted by the app's secret key as a customer's
backend would, and batches what it has at most every FLUSH_WALL_S of wall time, as the browser
SDK batches its reports. A few participants post at once so the server's group commit sees
concurrent requests, as it does in production.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from callscope.simulate.media import Item, session_items
from callscope.simulate.scenario import Scenario, SessionPlan
from callscope.simulate.truth import GroundTruth

FLUSH_WALL_S = 0.25
MAX_ITEMS_PER_REQUEST = 2000  # well under the server's max_items_per_batch (10 000 by default)
MAX_RATE_LIMITED_RETRIES = 8
MAX_RETRY_WAIT_S = 5.0
MAX_SPEEDUP = 1_000_000.0
WORKERS = 4
WAIT_SLICE_S = 0.2  # how often a wait looks at the stop flag
TOKEN_SLACK_S = 600
MAX_STEP_MS = 60_000

Progress = Callable[[int, int], None]  # (simulated ms done, simulated ms in all)
Answer = tuple[str, dict[str, Any], dict[str, Any] | None]  # endpoint, item, its problem or None


class SimulationError(Exception):
    """The server refused a whole request (not one item): wrong URL, credentials or app."""


@dataclass(frozen=True)
class Target:
    base_url: str
    app_id: str
    api_key: str


def new_run_id() -> str:
    """A short id unique to this run (hex milliseconds), so reruns never reuse a session id."""
    return format(time.time_ns() // 1_000_000, "x")


class IngestClient:
    """Ingest tokens and posts; one outcome per item, with bounded retries when the queue is full."""

    def __init__(self, target: Target, *, token_ttl_s: int) -> None:
        self._target = target
        self._token_ttl_s = token_ttl_s
        self._client = httpx.Client(
            base_url=target.base_url, timeout=60, limits=httpx.Limits(max_connections=WORKERS + 2)
        )
        self.tokens: dict[tuple[str, str], str] = {}

    def close(self) -> None:
        self._client.close()

    def mint(self, room_id: str, user_id: str) -> str:
        response = self._client.post(
            f"/v1/apps/{self._target.app_id}/ingest-tokens",
            json={"room_id": room_id, "user_id": user_id, "ttl_s": self._token_ttl_s},
            headers={"Authorization": f"Bearer {self._target.api_key}"},
        )
        _raise_for_request(response, "minting an ingest token")
        token: str = response.json()["token"]
        return token

    def post(self, endpoint: str, token: str, items: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """Each item's problem as the API reported it, or None when it was accepted."""
        body = orjson.dumps({endpoint: items})
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        response = self._client.post(f"/v1/ingest/{endpoint}", content=body, headers=headers)
        for _ in range(MAX_RATE_LIMITED_RETRIES):
            if response.status_code != 429:
                break
            # A full writer queue stored nothing: the same batch is safe to send again.
            time.sleep(min(MAX_RETRY_WAIT_S, float(response.headers.get("Retry-After", "1"))))
            response = self._client.post(f"/v1/ingest/{endpoint}", content=body, headers=headers)
        if response.status_code == 429:
            gave_up = {"outcome": "rate_limited", "message": "writer queue still full after retries"}
            return [gave_up] * len(items)
        if response.status_code != 422:  # 422 = every item invalid, itemised like a 200
            _raise_for_request(response, f"POST /v1/ingest/{endpoint}")
        outcomes: list[dict[str, Any] | None] = [None] * len(items)
        for problem in response.json().get("items", []):
            outcomes[problem["index"]] = problem
        return outcomes


def _raise_for_request(response: httpx.Response, what: str) -> None:
    if response.is_error:
        raise SimulationError(f"{what}: {response.status_code} {response.text[:500]}")


class _Feed:
    """One session's items, handed out in time order up to a limit."""

    def __init__(self, session: SessionPlan, items: Iterator[Item]) -> None:
        self.session = session
        self._items = items
        self._next: Item | None = next(items, None)

    def take_until(self, ts_ms: int) -> list[Item]:
        taken = []
        while self._next is not None and self._next[0] <= ts_ms:
            taken.append(self._next)
            self._next = next(self._items, None)
        return taken


def run_simulation(
    scenario: Scenario,
    target: Target,
    *,
    speedup: float,
    stop: Callable[[], bool] = lambda: False,
    on_progress: Progress | None = None,
) -> GroundTruth:
    """Send the scenario; returns what the server accepted. Stops early (truth marked incomplete)
    when `stop()` turns true."""
    if not 1 <= speedup <= MAX_SPEEDUP:
        raise ValueError(f"speedup must be 1..{MAX_SPEEDUP:g}")
    duration_ms = scenario.duration_ms
    wall_start_s, mono_start_s = time.time(), time.monotonic()
    origin_ms = int(wall_start_s * 1000) - int(duration_ms * (1 - 1 / speedup))
    truth = GroundTruth(scenario, app_id=target.app_id, origin_ms=origin_ms, speedup=speedup)
    window_ms = scenario.config.window_s * 1000
    feeds = [
        _Feed(
            s,
            session_items(
                s,
                instance.sessions,
                origin_ms=origin_ms,
                seed=scenario.config.seed,
                window_ms=window_ms,
                failed_ratio=scenario.config.failed_stream_ratio,
            ),
        )
        for instance in scenario.instances
        for s in instance.sessions
    ]
    # Simulated time per flush; the cap bounds the items held in memory at a large speed-up.
    step_ms = min(MAX_STEP_MS, max(1000, int(speedup * FLUSH_WALL_S * 1000)))
    steps = math.ceil(duration_ms / step_ms)
    wall_duration_s = duration_ms / 1000 / speedup
    client = IngestClient(target, token_ttl_s=int(min(86_400, wall_duration_s + TOKEN_SLACK_S)))
    done = 0
    try:
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="simulate") as pool:
            for step in range(steps):
                upto_ms = min(duration_ms, (step + 1) * step_ms)
                if not _wait_for(mono_start_s + upto_ms / 1000 / speedup, stop):
                    break
                due = [(feed.session, feed.take_until(origin_ms + upto_ms)) for feed in feeds]
                _send(pool, client, [(s, items) for s, items in due if items], truth)
                done = step + 1
                if on_progress is not None:
                    on_progress(upto_ms, duration_ms)
    finally:
        client.close()
    truth.completed = done == steps
    truth.wall_seconds = time.monotonic() - mono_start_s
    return truth


def _wait_for(monotonic_s: float, stop: Callable[[], bool]) -> bool:
    """Sleep until the monotonic clock reaches monotonic_s; False if stopped first."""
    slices = math.ceil(max(0.0, monotonic_s - time.monotonic()) / WAIT_SLICE_S)
    for _ in range(slices):
        if stop():
            return False
        time.sleep(max(0.0, min(WAIT_SLICE_S, monotonic_s - time.monotonic())))
    return not stop()


def _send(
    pool: ThreadPoolExecutor,
    client: IngestClient,
    due: list[tuple[SessionPlan, list[Item]]],
    truth: GroundTruth,
) -> None:
    """Post every due item, one session per task; answers are recorded here, in one thread."""
    new_users = sorted({(s.room_id, s.user_id) for s, _ in due} - client.tokens.keys())
    for user, token in zip(new_users, pool.map(lambda u: client.mint(*u), new_users), strict=True):
        client.tokens[user] = token

    def post_session(session: SessionPlan, items: list[Item]) -> list[Answer]:
        token = client.tokens[(session.room_id, session.user_id)]
        answered: list[Answer] = []
        for endpoint in ("events", "samples"):  # a join lands before the samples that follow it
            payloads = [payload for _, kind, payload in items if kind == endpoint]
            for lo in range(0, len(payloads), MAX_ITEMS_PER_REQUEST):
                chunk = payloads[lo : lo + MAX_ITEMS_PER_REQUEST]
                answered += zip(
                    [endpoint] * len(chunk), chunk, client.post(endpoint, token, chunk), strict=True
                )
        return answered

    futures = [pool.submit(post_session, session, items) for session, items in due]
    for future in futures:
        for endpoint, payload, outcome in future.result():
            truth.record(endpoint, payload, outcome)

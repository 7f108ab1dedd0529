"""Acknowledged = durable: SIGKILL the server mid-stream; every acked sample survives, once."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import httpx

from tests.helpers import bearer, now_ms, sample
from tests.serverproc import ServerProcess

CLIENTS = 4
BATCH = 100


def test_sigkill_mid_stream_loses_no_acknowledged_sample(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        created = server.cli("apps", "create", "durability").stdout
        app_id = created.split("app_id:")[1].split()[0]
        key = created.split("api_key:")[1].split()[0]
        acked: set[tuple[str, int]] = set()
        unacked: list[tuple[str, list[dict[str, object]]]] = []
        lock = threading.Lock()
        counter = itertools.count()
        base_ts = now_ms() - 120_000
        stop = time.monotonic() + 30  # bounded even if the kill never lands

        def client(n: int) -> None:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                while time.monotonic() < stop:
                    batch_no = next(counter)
                    items = [
                        sample(session_id=f"s{n}", ts=base_ts + batch_no * BATCH + i) for i in range(BATCH)
                    ]
                    idem = f"dur-{batch_no}"
                    try:
                        response = http.post(
                            "/v1/ingest/samples",
                            json={"samples": items},
                            headers={**bearer(key), "Idempotency-Key": idem},
                        )
                    except httpx.TransportError:
                        with lock:
                            unacked.append((idem, items))
                        return
                    assert response.status_code == 200, response.text
                    assert response.json()["accepted"] == BATCH
                    with lock:
                        acked.update((f"s{n}", int(str(item["ts"]))) for item in items)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        while len(acked) < 5000 and time.monotonic() < stop:
            time.sleep(0.02)
        server.kill()  # SIGKILL: no shutdown hooks, no final flush
        for t in threads:
            t.join(timeout=30)
        assert len(acked) >= 5000, "the server acknowledged too little before the kill"

        server.start()
        # Clients retry what was in flight at the kill; nothing may be stored twice.
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for idem, items in unacked:
                retried = http.post(
                    "/v1/ingest/samples",
                    json={"samples": items},
                    headers={**bearer(key), "Idempotency-Key": idem},
                )
                assert retried.status_code == 200, retried.text
        query = (
            "SELECT session_id, toUnixTimestamp64Milli(ts) AS ts_ms, count() AS copies "
            "FROM samples WHERE app_id = {a:String} GROUP BY session_id, ts_ms"
        )
        server.stop()
        rows = _query_store(server.data_dir, query, app_id)
        stored = {(r["session_id"], r["ts_ms"]): r["copies"] for r in rows}
        missing = acked - stored.keys()
        assert not missing, f"{len(missing)} acknowledged samples lost"
        assert max(stored.values()) == 1, "a sample was stored twice"
        retried_keys = {(str(i["session_id"]), int(str(i["ts"]))) for _, items in unacked for i in items}
        assert retried_keys <= stored.keys()
    finally:
        server.stop()


def _query_store(data_dir: Path, sql: str, app_id: str) -> list[dict[str, object]]:
    """Read the stopped server's store from a fresh process (chDB binds one path per process)."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from callscope.storage.registry import open_backend\n"
        f"b = open_backend('chdb://{data_dir / 'store'}')\n"
        f"rows = b.query({sql!r}, {{'a': {app_id!r}}})\n"
        "print(json.dumps(rows))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    rows: list[dict[str, object]] = json.loads(out.stdout)
    return rows

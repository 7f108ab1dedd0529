"""Media plane: join → webrtcup time, and CPU of Callscope and Janus per published stream.

Run (root: it makes two network namespaces): .venv/bin/python bench/media.py [--publishers 2 4 8]

Same set-up as tests/media: `callscope serve` with its managed Janus in namespace a, aiortc
publishers (320x240@15 VP8 + Opus) in namespace b, over a veth pair. For each publisher count a
fresh room is filled one publisher at a time; "join → webrtcup" is from the VideoRoom `join`
request to the publisher's peer connection being `connected` (Janus sends `webrtcup` when the
same DTLS handshake completes). Then CPU of the Callscope and Janus processes (utime + stime
from /proc, in % of one core) is sampled over `--measure` seconds of steady publishing, and
divided by the number of published streams (2 per publisher: audio and video). The aiortc
clients share the same two cores, so absolute numbers are pessimistic.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.media.clients import Participant, publish  # noqa: E402
from tests.media.conftest import media_env  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


async def fill(
    url: str, room: int, pin: str, n: int
) -> tuple[list[Participant], list[float], httpx.AsyncClient]:
    http = httpx.AsyncClient()
    people, joins = [], []
    for i in range(n):
        t0 = time.perf_counter()
        people.append(await publish(http, url, room, pin, f"pub{i}", hue=i))
        joins.append(time.perf_counter() - t0)
    return people, joins, http


async def close(people: list[Participant], http: httpx.AsyncClient) -> None:
    await asyncio.gather(*(p.close() for p in people))
    await http.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--publishers", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--measure", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, media_env(Path(tmp)) as media:
        app = media.call("POST", "/v1/admin/apps", json={"name": "bench"})
        header = ("publishers", "join→webrtcup median", "callscope %/stream", "janus %/stream")
        print(f"{header[0]:>10} {header[1]:>21} {header[2]:>19} {header[3]:>15}")
        for n in args.publishers:
            placed = media.call(
                "POST", "/v1/admin/media/rooms", json={"app_id": app["app_id"], "room_id": f"bench-{n}"}
            )
            people, joins, http = media.loop.run(
                fill(placed["janus_url"], placed["janus_room"], placed["pin"], n), timeout=120
            )
            time.sleep(3)  # past ramp-up (bandwidth estimation, first keyframes)
            janus_pid = media.node()["pid"]
            pids = {"callscope": media.process.pid, "janus": janus_pid}
            before = {k: cpu_seconds(p) for k, p in pids.items()}
            t0 = time.monotonic()
            time.sleep(args.measure)
            elapsed = time.monotonic() - t0
            used = {k: 100 * (cpu_seconds(p) - before[k]) / elapsed for k, p in pids.items()}
            media.loop.run(close(people, http), timeout=60)
            streams = 2 * n
            print(
                f"{n:>10} {statistics.median(joins) * 1000:>18.0f} ms "
                f"{used['callscope'] / streams:>18.2f} {used['janus'] / streams:>15.2f}"
                f"   (total: callscope {used['callscope']:.1f} %, janus {used['janus']:.1f} %)",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""Real media: Callscope (with its managed Janus) in one namespace, aiortc clients in the other.

    namespace a: callscope serve ─ janus (child)      198.18.0.1 ──veth── 198.18.0.2  namespace b:
                 Callscope on 0.0.0.0:<port>, Janus API on 198.18.0.1      test HTTP calls + aiortc

Janus does not gather ICE candidates on loopback (design/media-plane.md §2), hence the veth.
The test process stays in the host namespace; its HTTP calls and aiortc clients run on a loop
whose thread entered namespace b (nsloop.py), so they reach Callscope and Janus at 198.18.0.1
and nothing else. Teardown stops Callscope (which stops Janus) and deletes both namespaces.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, TOKEN_SECRET
from tests.media.nsloop import NetnsLoop
from tests.netns import NetnsUnavailable, VethPair, veth_pair

CALLSCOPE_PORT, JANUS_PORT, JANUS_ADMIN_PORT = 18080, 18088, 18089
START_TIMEOUT_S = 60.0
STATS_PERIOD_S = 1


@dataclass
class MediaEnv:
    net: VethPair
    loop: NetnsLoop  # runs in namespace b
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str

    async def api(self, method: str, path: str, *, token: str = ADMIN_TOKEN, **kwargs: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.loop.run(self.api(method, path, **kwargs))

    def node(self) -> dict[str, Any]:
        nodes: list[dict[str, Any]] = self.call("GET", "/v1/admin/media/nodes")["nodes"]
        assert len(nodes) == 1, nodes
        return nodes[0]

    def wait_node(self, healthy: bool, timeout_s: float, **expected: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        for _ in range(int(timeout_s / 0.05) + 1):
            node = self.node()
            if node["healthy"] is healthy and all(node[k] == v for k, v in expected.items()):
                return node
            assert time.monotonic() < deadline, f"node not healthy={healthy} {expected}: {node}\n{self.log()}"
            time.sleep(0.05)
        raise AssertionError("unreachable")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _env(data_dir: Path, net: VethPair) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCOPE_")}
    env.update(
        CALLSCOPE_DATA_DIR=str(data_dir),
        CALLSCOPE_HOST="0.0.0.0",  # inside namespace a: its loopback and the veth only
        CALLSCOPE_PORT=str(CALLSCOPE_PORT),
        CALLSCOPE_ADMIN_TOKEN=ADMIN_TOKEN,
        CALLSCOPE_TOKEN_SECRET=TOKEN_SECRET,
        CALLSCOPE_LOG_LEVEL="INFO",
        CALLSCOPE_FSYNC="false",
        CALLSCOPE_JANUS_MANAGED="true",
        CALLSCOPE_JANUS_API_HOST=net.addr_a,
        CALLSCOPE_JANUS_API_PORT=str(JANUS_PORT),
        CALLSCOPE_JANUS_ADMIN_PORT=str(JANUS_ADMIN_PORT),
        CALLSCOPE_JANUS_ICE_IP=net.addr_a,
        CALLSCOPE_JANUS_ICE_ENFORCE_LIST=net.dev_a,
        CALLSCOPE_JANUS_RTP_PORT_RANGE="18200-18399",
        CALLSCOPE_JANUS_STATS_PERIOD_S=str(STATS_PERIOD_S),
        CALLSCOPE_JANUS_HEALTH_INTERVAL_S="0.5",
    )
    return env


@contextmanager
def media_env(tmp_path: Path) -> Iterator[MediaEnv]:
    """Namespaces, Callscope with its Janus in `a`, a client loop in `b`; all gone afterwards."""
    with veth_pair("md") as net:
        loop = NetnsLoop(net.b)
        log_path = tmp_path / "server.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [*net.exec_args(net.a), sys.executable, "-m", "callscope", "serve"],
                env=_env(tmp_path / "data", net),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        env = MediaEnv(net, loop, process, log_path, f"http://{net.addr_a}:{CALLSCOPE_PORT}")
        try:
            _wait_ready(env)
            yield env
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            loop.close()


@pytest.fixture
def media(tmp_path: Path) -> Iterator[MediaEnv]:
    try:
        with media_env(tmp_path) as env:
            yield env
    except NetnsUnavailable as exc:  # fail, never skip: these tests need real namespaces
        pytest.fail(f"cannot create network namespaces for this test: {exc}", pytrace=False)


def _wait_ready(env: MediaEnv) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    for _ in range(int(START_TIMEOUT_S / 0.1)):
        assert env.process.poll() is None, f"callscope serve exited:\n{env.log()}"
        try:
            env.call("GET", "/readyz")
            break
        except (httpx.HTTPError, AssertionError):
            assert time.monotonic() < deadline, f"callscope did not become ready:\n{env.log()}"
            time.sleep(0.1)
    env.wait_node(True, START_TIMEOUT_S)

"""The Janus nodes settings describe: the managed one (if on) and the external ones.

A managed node's three secrets (admin API secret, VideoRoom admin key, event handler password)
are derived from one seed: `CALLSCOPE_JANUS_SECRETS`, or one generated once into
`<data_dir>/janus/seed` (owner-only), so a restart of Callscope keeps them.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from callscope.media.config import ManagedSpec, new_secret
from callscope.media.controller import Node
from callscope.media.janus_api import NodeEndpoints
from callscope.media.process import JanusProcess
from callscope.settings import Settings

MANAGED_NODE = "local"


@dataclass(frozen=True)
class NodeSecrets:
    """The event-handler password each node's events must carry (basic auth, user = node name)."""

    events: dict[str, str]

    def check(self, node: str, password: str) -> bool:
        expected = self.events.get(node)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())


def _seed(settings: Settings, folder: Path) -> str:
    if settings.janus_secrets is not None:
        return settings.janus_secrets.get_secret_value()
    path = folder / "seed"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(new_secret())
    return path.read_text().strip()


def _derive(seed: str, purpose: str) -> str:
    return hmac.new(seed.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 (comparing, not binding)


def build_nodes(settings: Settings, collector_url: str) -> tuple[list[Node], NodeSecrets]:
    """The nodes to run or reach, and the event-handler secrets that authenticate them."""
    nodes: list[Node] = []
    events: dict[str, str] = {}
    if settings.janus_managed:
        folder = settings.data_dir / "janus"
        seed = _seed(settings, folder)
        admin_secret, admin_key = _derive(seed, "admin_secret"), _derive(seed, "admin_key")
        events[MANAGED_NODE] = _derive(seed, "events")
        api_host = _loopback(settings.janus_api_host)
        spec = ManagedSpec(
            name=MANAGED_NODE,
            folder=folder / MANAGED_NODE,
            api_host=settings.janus_api_host,
            api_port=settings.janus_api_port,
            admin_port=settings.janus_admin_port,
            admin_secret=admin_secret,
            admin_key=admin_key,
            events_url=collector_url,
            events_user=MANAGED_NODE,
            events_secret=events[MANAGED_NODE],
            stats_period_s=settings.janus_stats_period_s,
            rtp_port_range=settings.janus_rtp_port_range,
            ice_ip=settings.janus_ice_ip,
            ice_enforce_list=settings.janus_ice_enforce_list,
        )
        api_url = f"http://{api_host}:{settings.janus_api_port}/janus"
        endpoints = NodeEndpoints(
            MANAGED_NODE,
            api_url,
            f"http://127.0.0.1:{settings.janus_admin_port}/admin",
            admin_secret,
            admin_key,
        )
        public = (
            settings.janus_public_url or f"http://{settings.janus_api_host}:{settings.janus_api_port}/janus"
        )
        nodes.append(Node(endpoints, public, process=JanusProcess(spec, settings.janus_binary)))
    for external in settings.janus_nodes:
        endpoints = NodeEndpoints(
            external.name,
            external.api_url,
            external.admin_url,
            external.admin_secret.get_secret_value(),
            external.admin_key.get_secret_value(),
        )
        events[external.name] = external.events_secret.get_secret_value()
        nodes.append(Node(endpoints, external.public_url or external.api_url))
    return nodes, NodeSecrets(events)

"""Janus configuration generated into Callscope's data directory (never `/etc/janus`).

`render(spec)` is pure: it returns the `.jcfg` files as text. The stock `/etc/janus` config
binds the Janus API on every interface with a public admin secret, so a managed Janus is always
started with `-F <our folder>` and only the modules listed here.

What the files set (design/media-plane.md §1, §3):
- VideoRoom with an `admin_key`: creating rooms needs it, and it stays server-side.
- Admin API on loopback only, with a generated `admin_secret`.
- The sample HTTP event handler posting batches (always a JSON array) to Callscope's collector
  with basic auth, media stats every `stats_period_s`, and the transport (one per HTTP request,
  long polls included) and jsep (whole SDPs) events masked out.
"""

from __future__ import annotations

import json
import secrets
import sysconfig
from dataclasses import dataclass
from pathlib import Path

# What the event handler sends. Left out: transports (≈30 % of all events, one per HTTP request)
# and jsep (complete SDP offers and answers, nothing we store).
EVENT_MASK = "sessions,handles,webrtc,media,plugins,core"

_PLUGINS_OFF = [
    "audiobridge",
    "duktape",
    "echotest",
    "lua",
    "nosip",
    "recordplay",
    "sip",
    "streaming",
    "textroom",
    "videocall",
    "voicemail",
]
_TRANSPORTS_OFF = ["mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets"]
_EVENTS_OFF = ["gelfevh", "mqttevh", "nanomsgevh", "rabbitmqevh", "wsevh"]


def modules_dir() -> Path:
    """Where Debian installs Janus's plugins, transports and event handlers."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
    return Path("/usr/lib") / multiarch / "janus"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ManagedSpec:
    """Everything a managed Janus's configuration depends on."""

    name: str  # server_name: the `emitter` of every event it sends
    folder: Path
    api_host: str
    api_port: int
    admin_port: int
    admin_secret: str
    admin_key: str
    events_url: str
    events_user: str
    events_secret: str
    stats_period_s: int
    rtp_port_range: str
    ice_ip: str = ""
    ice_enforce_list: str = ""
    modules: Path = modules_dir()
    debug_level: int = 4


def _q(value: str) -> str:
    """A libconfig string literal (same escapes as JSON for what we write)."""
    return json.dumps(value)


def _off(prefix: str, names: list[str]) -> str:
    return ",".join(f"libjanus_{prefix}{n}.so" for n in names)


def render(spec: ManagedSpec) -> dict[str, str]:
    """The configuration files of a managed Janus, by file name."""
    m = spec.modules
    general = [
        f"configs_folder = {_q(str(spec.folder))}",
        f"plugins_folder = {_q(str(m / 'plugins'))}",
        f"transports_folder = {_q(str(m / 'transports'))}",
        f"events_folder = {_q(str(m / 'events'))}",
        f"loggers_folder = {_q(str(m / 'loggers'))}",
        f"debug_level = {spec.debug_level}",
        "debug_timestamps = true",
        f"admin_secret = {_q(spec.admin_secret)}",
        f"server_name = {_q(spec.name)}",
        "session_timeout = 60",
        'protected_folders = [ "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sbin", '
        '"/sys", "/usr", "/var" ]',
    ]
    if spec.ice_ip:
        general.append(f"interface = {_q(spec.ice_ip)}")
    nat = ["nice_debug = false"]
    if spec.ice_enforce_list:
        nat.append(f"ice_enforce_list = {_q(spec.ice_enforce_list)}")
    janus = _sections(
        general=general,
        certificates=[],
        media=[f"rtp_port_range = {_q(spec.rtp_port_range)}", "no_media_timer = 2", "slowlink_threshold = 4"],
        nat=nat,
        plugins=[f"disable = {_q(_off('', _PLUGINS_OFF))}"],
        transports=[f"disable = {_q(_off('', _TRANSPORTS_OFF))}"],
        loggers=[f"disable = {_q('libjanus_jsonlog.so')}"],
        events=[
            "broadcast = true",
            f"disable = {_q(_off('', _EVENTS_OFF))}",
            f"stats_period = {spec.stats_period_s}",
            "combine_media_stats = false",
        ],
    )
    http = _sections(
        general=[
            'json = "plain"',
            'base_path = "/janus"',
            "http = true",
            f"ip = {_q(spec.api_host)}",
            f"port = {spec.api_port}",
            "https = false",
        ],
        admin=[
            'admin_base_path = "/admin"',
            "admin_http = true",
            'admin_ip = "127.0.0.1"',
            f"admin_port = {spec.admin_port}",
            "admin_https = false",
        ],
        cors=[],
        certificates=[],
    )
    evh = _sections(
        general=[
            "enabled = true",
            f"events = {_q(EVENT_MASK)}",
            "grouping = true",
            'json = "plain"',
            f"backend = {_q(spec.events_url)}",
            f"backend_user = {_q(spec.events_user)}",
            f"backend_pwd = {_q(spec.events_secret)}",
            "max_retransmissions = 2",
            "retransmissions_backoff = 100",
        ]
    )
    videoroom = _sections(general=[f"admin_key = {_q(spec.admin_key)}", "events = true"])
    return {
        "janus.jcfg": janus,
        "janus.transport.http.jcfg": http,
        "janus.eventhandler.sampleevh.jcfg": evh,
        "janus.plugin.videoroom.jcfg": videoroom,
    }


def _sections(**sections: list[str]) -> str:
    out = []
    for name, lines in sections.items():
        body = "".join(f"\t{line}\n" for line in lines)
        out.append(f"{name}: {{\n{body}}}\n")
    return "\n".join(out)


def write(spec: ManagedSpec) -> Path:
    """Write the files (owner-only: they hold secrets); returns the main config's path."""
    spec.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    spec.folder.chmod(0o700)
    for name, text in render(spec).items():
        path = spec.folder / name
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(text)
    return spec.folder / "janus.jcfg"

"""Two private network namespaces joined by a veth pair (design/media-plane.md §2).

Real media tests cannot all run on loopback: Janus skips loopback interfaces, and loss injected
with iptables on `lo` would hit every process of the machine. So a test makes its own pair of
namespaces:

    <name>-a  198.18.0.1/30 ──veth── 198.18.0.2/30  <name>-b

198.18.0.0/15 is the RFC 2544 benchmarking range. Each namespace has `lo` up, IPv6 off and no
default route, so nothing started inside can reach any other network. Names carry the pid and a
counter, so parallel runs and repeated use in one process never collide. Teardown deletes both
namespaces (the veth and any iptables rules go with them), also when the test failed.

Needs root and `ip netns`. Without them the `veth` fixture fails with the reason: a test that
needs real packet loss must not pass by being skipped.

    with veth_pair() as net:
        net.drop_inbound_udp(net.b, 0.05)
        subprocess.run(net.exec_args(net.a) + ["some-server", "--bind", net.addr_a])
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

SUBNET = "198.18.0.0/30"
ADDR_A, ADDR_B, PREFIX = "198.18.0.1", "198.18.0.2", 30
COMMAND_TIMEOUT_S = 10.0
_counter = itertools.count()


class NetnsUnavailable(RuntimeError):
    """This machine (or user) cannot create network namespaces."""


def _run(args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
    return result


@dataclass(frozen=True)
class VethPair:
    """Two namespaces `a` and `b`; `dev_a` (in `a`, `addr_a`) is cabled to `dev_b` (in `b`, `addr_b`)."""

    a: str
    b: str
    dev_a: str
    dev_b: str
    workdir: Path  # scratch space that lives as long as the namespaces (wrapper scripts)
    addr_a: str = ADDR_A
    addr_b: str = ADDR_B
    prefix: int = PREFIX

    def address(self, ns: str) -> str:
        return {self.a: self.addr_a, self.b: self.addr_b}[ns]

    def exec_args(self, ns: str) -> list[str]:
        """Prefix that runs a command inside `ns`."""
        return ["ip", "netns", "exec", ns]

    def run(self, ns: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a short command inside `ns`; raises with its stderr when it fails."""
        return _run(self.exec_args(ns) + list(args))

    def iptables(self, ns: str, *rule: str) -> None:
        """Add an iptables rule inside `ns` only (its own netfilter tables), e.g. `-A INPUT ...`."""
        self.run(ns, "iptables", "-w", "5", *rule)

    def drop_inbound_udp(self, ns: str, probability: float) -> None:
        """Drop each UDP packet arriving in `ns` independently with `probability` (random loss)."""
        assert 0 < probability < 1, probability
        self.iptables(
            ns,
            *("-A", "INPUT", "-p", "udp", "-m", "statistic", "--mode", "random"),
            *("--probability", f"{probability}", "-j", "DROP"),
        )

    def dropped_packets(self, ns: str) -> int:
        """Packets dropped by the DROP rules of `ns`'s INPUT chain so far (iptables' counters)."""
        out = self.run(ns, "iptables", "-w", "5", "-L", "INPUT", "-n", "-v", "-x").stdout
        return sum(int(line.split()[0]) for line in out.splitlines() if " DROP " in f" {line} ")

    def wrapper(self, ns: str, program: str) -> Path:
        """An executable that runs `program` with its arguments inside `ns`.

        For tools that take a path to a binary (Playwright's `executable_path`): `exec` keeps the
        inherited file descriptors, so pipe-based control (`--remote-debugging-pipe`) still works.
        """
        path = self.workdir / f"{ns}-{Path(program).name}"
        path.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {program} "$@"\n')
        path.chmod(0o755)
        return path


def check_available() -> None:
    """Raise NetnsUnavailable with the reason when namespaces cannot be made here."""
    if os.geteuid() != 0:
        raise NetnsUnavailable(f"network namespaces need root; running as uid {os.geteuid()}")
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            raise NetnsUnavailable(f"`{tool}` is not installed (Debian: iproute2, iptables)")
    probe = _run(["ip", "netns", "list"], check=False)
    if probe.returncode != 0:
        raise NetnsUnavailable(f"`ip netns` does not work here: {probe.stderr.strip()}")


@contextmanager
def veth_pair(tag: str = "cs") -> Iterator[VethPair]:
    """A fresh pair named `<tag>-<pid>-<n>-{a,b}`; raises NetnsUnavailable when impossible here."""
    check_available()
    n = next(_counter)
    pid = os.getpid()
    base = f"{tag}-{pid}-{n}"
    short = f"{tag[:3]}{pid}x{n}"  # interface names have at most 15 characters
    workdir = Path(tempfile.mkdtemp(prefix=f"{base}-"))
    pair = VethPair(f"{base}-a", f"{base}-b", f"{short}a", f"{short}b", workdir)
    created: list[str] = []
    try:
        for ns in (pair.a, pair.b):
            result = _run(["ip", "netns", "add", ns], check=False)
            if result.returncode != 0:
                raise NetnsUnavailable(f"ip netns add {ns} failed: {result.stderr.strip()}")
            created.append(ns)
        _run(
            ["ip", "link", "add", pair.dev_a, "netns", pair.a, "type", "veth"]
            + ["peer", "name", pair.dev_b, "netns", pair.b]
        )
        for ns, dev, addr in ((pair.a, pair.dev_a, pair.addr_a), (pair.b, pair.dev_b, pair.addr_b)):
            _setup(pair, ns, dev, addr)
        yield pair
    finally:
        for ns in created:
            _delete(ns)
        shutil.rmtree(workdir, ignore_errors=True)


def _setup(pair: VethPair, ns: str, dev: str, addr: str) -> None:
    pair.run(ns, "ip", "link", "set", "lo", "up")
    pair.run(ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
    pair.run(ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
    pair.run(ns, "ip", "addr", "add", f"{addr}/{pair.prefix}", "dev", dev)
    pair.run(ns, "ip", "link", "set", dev, "up")
    routes = pair.run(ns, "ip", "-4", "route", "show", "default").stdout.strip()
    assert routes == "", f"{ns} must have no default route, has {routes!r}"


def _delete(ns: str) -> None:
    """Delete `ns`, first ending the processes still inside it.

    `ip netns del` only removes the name: a process left inside (a browser whose test crashed)
    would keep the namespace and its veth alive. Every pid inside was started by this test run.
    """
    pids = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), sig)
        deadline = time.monotonic() + 3
        while pids and time.monotonic() < deadline:
            pids = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
            time.sleep(0.05)
        if not pids:
            break
    _run(["ip", "netns", "del", ns], check=False)


def veth_or_fail(tag: str = "cs") -> Iterator[VethPair]:
    """Body of a pytest fixture: a fresh pair, or a test failure (never a skip) that says why
    namespaces are unavailable. A test that needs real packet loss must not pass by not running.

        @pytest.fixture
        def net() -> Iterator[VethPair]:
            yield from veth_or_fail()
    """
    try:
        with veth_pair(tag) as pair:
            yield pair
    except NetnsUnavailable as exc:
        pytest.fail(f"cannot create network namespaces for this test: {exc}", pytrace=False)


@pytest.fixture
def veth() -> Iterator[VethPair]:
    """`veth_or_fail()` as a fixture, for a conftest (`from tests.netns import veth`)."""
    yield from veth_or_fail()

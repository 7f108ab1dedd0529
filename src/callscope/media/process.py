"""A managed Janus: a child process of `callscope serve`, started from our generated config.

The controller decides when to (re)start; this class only owns the process: spawn it with its
output in `<folder>/janus.log` (the previous run's log kept as `janus.log.1`), tell whether it
still runs, and stop it (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import ctypes
import logging
import shutil
import signal
import subprocess
from pathlib import Path

from callscope.errors import ConfigError
from callscope.media.config import ManagedSpec, write

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 5.0


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover (runs in the child between fork and exec)
    # If `callscope serve` is killed outright, its Janus must not live on holding the ports.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def find_janus(binary: str) -> str:
    """The path of the Janus executable, or ConfigError saying how to install it."""
    found = shutil.which(binary)
    if found is None:
        raise ConfigError(
            f"CALLSCOPE_JANUS_MANAGED is on but `{binary}` is not installed "
            "(Debian: apt-get install janus janus-tools; `make setup` does it)"
        )
    return found


class JanusProcess:
    def __init__(self, spec: ManagedSpec, binary: str) -> None:
        self.spec = spec
        self.binary = find_janus(binary)
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path:
        return self.spec.folder / "janus.log"

    def start(self) -> None:
        config = write(self.spec)
        if self.log_path.exists():
            self.log_path.replace(self.log_path.with_suffix(".log.1"))
        with self.log_path.open("ab") as out:
            self._process = subprocess.Popen(  # noqa: S603 (our own binary and config)
                [self.binary, "-F", str(self.spec.folder), "-C", str(config), "-o"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C on the terminal is ours to relay, not Janus's
                preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        self.starts += 1
        log.info("janus started", extra={"node": self.spec.name, "pid": self._process.pid})

    def exit_code(self) -> int | None:
        """None while it runs (or before the first start); else how it ended."""
        if self._process is None:
            return None
        return self._process.poll()

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)

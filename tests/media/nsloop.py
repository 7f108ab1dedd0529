"""An asyncio loop on a thread that lives in a network namespace the test created.

Linux keeps the network namespace per thread: after `setns(2)` every socket this thread opens
(aiortc's ICE sockets, HTTP clients) belongs to the namespace, while the rest of the test process
stays where it was. Python 3.11 has no `os.setns`, so it is called through libc.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(name: str) -> None:
    """Move the calling thread into `/run/netns/<name>`."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({name}): {os.strerror(errno)}")
    finally:
        os.close(fd)


class NetnsLoop:
    """`run(coro)` runs a coroutine on the loop inside `ns` and returns its result."""

    def __init__(self, ns: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._entered = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, args=(ns,), name=f"netns-{ns}", daemon=True)
        self._thread.start()
        assert self._entered.wait(10), "the namespace thread did not start"
        if self._error is not None:
            raise self._error

    def _main(self, ns: str) -> None:
        try:
            enter_netns(ns)
        except OSError as exc:
            self._error = exc
            self._entered.set()
            return
        asyncio.set_event_loop(self.loop)
        self._entered.set()
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            self.run(cancel_all(), timeout=20)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        self.loop.close()

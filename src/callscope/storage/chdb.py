"""The embedded backend: ClickHouse's engine in-process (chDB), `chdb:///path?database=name`.

chDB binds one store path per process and refuses a second process with an opaque
`BAD_ARGUMENTS … EmbeddedServer` error, so we take our own lock first and say what is wrong.
Each thread gets its own connection (a chDB connection is a session: `USE` is per connection).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import chdb
import pyarrow as pa
import pyarrow.ipc as ipc

from callscope.errors import StoreBusy, StoreError
from callscope.storage.base import Params, StorageBackend

_LOCK_NAME = "callscope.lock"
# chDB raises `chdb._exceptions.ChdbError` (a RuntimeError), which is not the `chdb.ChdbError`
# its top-level module exports; catch both so no engine error escapes as a bare exception.
_ENGINE_ERRORS = (RuntimeError, chdb.ChdbError)
# chDB allows many connections (and databases) on one path inside a process, so the lock is
# per process and per path, shared by every backend object that opens that path.
_held: dict[Path, list[int]] = {}  # path -> [fd, users]
_held_guard = threading.Lock()
# Every insert runs with these. The rollup views of `samples` run side by side rather than one
# after another: a 30k-row commit took 175 instead of 187 ms, a 100k-row Arrow insert 175-177
# vs 181-217 ms. And no JIT: the engine compiles an expression to machine code once it has seen
# it three times, into a cache that lives as long as the process. The embedded engine's process
# is ours, so every start (and every CLI run that writes) compiled the views' ~40 aggregates
# again: ~50 ms of CPU per insert over the first ~14 inserts. Once compiled, 100k-row inserts
# cost the same with and without it (docs/operations.md, session 9).
_INSERT_SETTINGS = ", ".join(
    (
        "parallel_view_processing = 1",
        "compile_expressions = 0",
        "compile_aggregate_expressions = 0",
        "compile_sort_description = 0",
    )
)


class ChdbBackend(StorageBackend):
    def __init__(self, path: Path, database: str) -> None:
        self.url = f"chdb://{path}?database={database}"
        self.database = database
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        _acquire(path)
        self._closed = False
        self._local = threading.local()
        self._connections: list[chdb.state.sqlitelike.Connection] = []
        self._connections_lock = threading.Lock()
        bootstrap = self._connect(use_database=False)
        bootstrap.query(f"CREATE DATABASE IF NOT EXISTS `{database}`")

    def _connect(self, *, use_database: bool = True) -> chdb.state.sqlitelike.Connection:
        try:
            conn = chdb.connect(str(self.path))  # type: ignore[no-untyped-call]
            if use_database:
                conn.query(f"USE `{self.database}`")
        except _ENGINE_ERRORS as exc:
            raise StoreError(f"cannot open the embedded store at {self.path}: {exc}") from exc
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _conn(self) -> chdb.state.sqlitelike.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        try:
            result = self._conn().query(sql, "ArrowTable", params=dict(params or {}))
        except _ENGINE_ERRORS as exc:
            raise StoreError(str(exc)) from exc
        table: pa.Table = result
        return table

    def command(self, sql: str, params: Params | None = None) -> None:
        try:
            self._conn().query(sql, "Null", params=dict(params or {}))
        except _ENGINE_ERRORS as exc:
            raise StoreError(str(exc)) from exc

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        # Arrow IPC bytes through a streaming insert: a third of the per-insert cost of the
        # `Python()` table function (measured 4.6 vs 15.4 ms for 3,000 rows into a Null table),
        # which matters because the writer pays it once per group commit.
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, data.schema) as stream:
            stream.write_table(data)
        self.insert_encoded(table, data.column_names, sink.getvalue().to_pybytes(), "ArrowStream")

    def insert_encoded(self, table: str, columns: Sequence[str], body: bytes, fmt: str) -> None:
        names = ", ".join(f"`{name}`" for name in columns)
        try:
            # Table and column names come from storage.schema, never from a request.
            query = f"INSERT INTO `{table}` ({names}) SETTINGS {_INSERT_SETTINGS}"
            inserter = self._conn().send_insert(query, fmt)
            inserter.append(body)
            inserter.finish()
        except _ENGINE_ERRORS as exc:
            raise StoreError(f"insert into {table} failed: {exc}") from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
        _release(self.path)


def _acquire(path: Path) -> None:
    with _held_guard:
        if path in _held:
            _held[path][1] += 1
        else:
            _held[path] = [_take_lock(path), 1]


def _release(path: Path) -> None:
    with _held_guard:
        entry = _held.get(path)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            fcntl.flock(entry[0], fcntl.LOCK_UN)
            os.close(entry[0])
            del _held[path]


def _take_lock(path: Path) -> int:
    fd = os.open(path / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise StoreBusy(
            f"the embedded store at {path} is in use by process {owner}; "
            "talk to the running server instead (the CLI does this when CALLSCOPE_ADMIN_TOKEN "
            "and CALLSCOPE_PUBLIC_URL point at it)"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd

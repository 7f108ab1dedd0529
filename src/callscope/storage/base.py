"""The storage backend contract. Every backend speaks ClickHouse SQL with bound parameters."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from callscope.storage import rows as rows_format

Params = Mapping[str, Any]


def in_strings(column: str, values: Iterable[str], name: str) -> tuple[str, dict[str, str]]:
    """`column IN (…)` with one bound String parameter per value (`{name}_0`, `{name}_1`, …):
    the engine's Array parameter binding is unreliable in chDB, so lists are never bound whole."""
    params = {f"{name}_{i}": value for i, value in enumerate(values)}
    return f"{column} IN ({', '.join(f'{{{p}:String}}' for p in params)})", params


class StorageBackend(ABC):
    """One database of one engine.

    Writes (`insert_arrow`) come from one thread at a time (the group-commit writer, or the CLI
    when no server runs); reads may come from any thread and use their own connections.
    """

    dialect = "clickhouse"
    url: str
    database: str

    @abstractmethod
    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        """Run a read; parameters are bound as `{name:Type}`, never formatted into the SQL."""

    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.query_arrow(sql, params).to_pylist()
        return rows

    def scalar(self, sql: str, params: Params | None = None) -> Any:
        table = self.query_arrow(sql, params)
        return table.column(0)[0].as_py() if table.num_rows else None

    @abstractmethod
    def command(self, sql: str, params: Params | None = None) -> None:
        """Run DDL or a statement without a result."""

    @abstractmethod
    def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Insert all rows of `data` (columns named as in the table); returns once committed."""

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert tuples of Python values into a writer table (storage/rows.py: timestamps as
        integer epoch time, NaN for "not measured"); returns once committed."""
        self.insert_row_body(table, columns, rows_format.encode(rows))

    def insert_row_body(self, table: str, columns: Sequence[str], body: bytes) -> None:
        """Insert rows already encoded by storage/rows.py's `encode`; returns once committed."""
        named = rows_format.input_columns(table, tuple(columns))
        self.insert_encoded(table, named, body, rows_format.FORMAT)

    @abstractmethod
    def insert_encoded(self, table: str, columns: Sequence[str], body: bytes, fmt: str) -> None:
        """Insert rows already encoded in the engine's input format `fmt`."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> StorageBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

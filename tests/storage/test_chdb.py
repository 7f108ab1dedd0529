"""The embedded backend's own choices, checked on a fresh engine in a child process: the engine's
counters are per process, and this test process runs other queries (which may compile) beside."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Six inserts through the rollup views, then how many functions the engine compiled meanwhile.
# With the JIT on for inserts, these six compiled 9 functions (chDB 4.4).
_SCRIPT = """
import sys, time
import pyarrow as pa
from callscope.analytics import rollups
from callscope.analytics.metrics import CATALOG
from callscope.storage.migrations import migrate
from callscope.storage.registry import open_backend
from callscope.storage.schema import SAMPLES

backend = open_backend("chdb://" + sys.argv[1])
migrate(backend)
rollups.ensure(backend, CATALOG, retention_days=31)
compiled = "SELECT sum(value) FROM system.events WHERE event = 'CompileFunction'"
before = backend.scalar(compiled) or 0
ts_us = int(time.time() * 1e6)
texts = {"kind": "video", "direction": "down", "source": "client", "quality_limitation": "none"}
for insert in range(6):
    n = 10
    columns = {}
    for field in SAMPLES:
        if pa.types.is_string(field.type):
            columns[field.name] = [texts.get(field.name, "x")] * n
        elif pa.types.is_timestamp(field.type):
            per_unit = {"s": 1_000_000, "ms": 1_000, "us": 1}[field.type.unit]
            columns[field.name] = [(ts_us + insert * n + i) // per_unit for i in range(n)]
        else:
            columns[field.name] = [1] * n
    backend.insert_arrow("samples", pa.Table.from_pydict(columns, schema=SAMPLES))
print((backend.scalar(compiled) or 0) - before)
backend.close()
"""


def test_inserts_compile_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0"], done.stdout

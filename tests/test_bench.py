"""The benchmarks still run (small): a benchmark that rots is found here, not on the day it is needed.

They print numbers and are never timed here; each runs in its own process because chDB opens
one store per process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_ingest_benchmark_runs() -> None:
    out = run("bench/ingest.py", "--samples", "2000", "--reports", "240", "--clients", "2", "--rounds", "2")
    assert "samples/s" in out and "reports/s" in out and "ratio HTTP / raw" in out
    assert "round 2 of 2" in out and "median of 2 rounds" in out
    assert "no rollups/detection" in out and "ingest cost of rollups+detection" in out


def test_query_benchmark_runs() -> None:
    out = run("bench/query.py", "--samples", "20000", "--repeats", "2")
    assert "http/sql" in out and "participants 24 h" in out


def test_analytics_benchmark_runs() -> None:
    out = run("bench/analytics.py", "--quick", "--rounds", "2")
    assert "stored samples:" in out and "abnormal events: the detector found" in out
    for family in ("per-minute 24 h", "daily 31 d", "per-user", "abnormal dist."):
        [line] = [line for line in out.splitlines() if line.startswith(family)]
        assert "no targets" not in line and ("ok" in line or "MISS" in line), line

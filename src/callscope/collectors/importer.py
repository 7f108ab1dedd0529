"""Bulk import of JSONL files (optionally gzipped) through the same validation as HTTP ingest.

Each line is one record: `{"record": "sample", ...sample fields}` or `{"record": "event", ...}`.
Lines are sent in chunks whose idempotency key is a hash of the chunk's bytes, so importing the
same file again (under any name) stores nothing new.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from callscope.collectors.outcomes import BatchSummary, Outcome
from callscope.collectors.pipeline import Endpoint

CHUNK_LINES = 5000
Sink = Callable[[Endpoint, bytes, str], Awaitable[BatchSummary]]
_ENDPOINTS = {"sample": Endpoint.SAMPLES, "event": Endpoint.EVENTS}


@dataclass
class ImportReport:
    lines: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    # (outcome, reason, field) → count, and the first few line numbers for each
    problems: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)

    def add(self, line_no: int, outcome: str, reason: str = "", field_name: str = "") -> None:
        self.outcomes[outcome] += 1
        if outcome != Outcome.ACCEPTED.value:
            slot = (outcome, reason, field_name)
            self.problems[slot] += 1
            examples = self.examples.setdefault(slot, [])
            if len(examples) < 5:
                examples.append(line_no)

    def to_wire(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "outcomes": dict(self.outcomes),
            "problems": [
                {"outcome": o, "reason": r, "field": f, "lines": n, "first_lines": self.examples[(o, r, f)]}
                for (o, r, f), n in sorted(self.problems.items())
            ],
        }


def _open(path: Path) -> Iterator[bytes]:
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as handle:
        yield from handle


def _parse(line: bytes) -> tuple[dict[str, Any] | None, str, str]:
    """(record, reason, field) with record None when the line is unusable."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            json.loads(line)  # NaN/Infinity parse here but are not valid data
        except ValueError:
            return None, "malformed_json", ""
        return None, "not_finite", ""
    if not isinstance(value, dict):
        return None, "not_an_object", ""
    if value.get("record") not in _ENDPOINTS:
        return None, "invalid_value", "record"
    return value, "", ""


def count_lines(path: Path) -> int:
    return sum(1 for line in _open(path) if line.strip())


async def import_file(path: Path, sink: Sink, progress: Callable[[int], None] | None = None) -> ImportReport:
    report = ImportReport()
    chunk: list[tuple[int, bytes]] = []
    for line_no, raw in enumerate(_open(path), start=1):
        if raw.strip():
            chunk.append((line_no, raw.strip()))
        if len(chunk) >= CHUNK_LINES:
            await _send_chunk(chunk, sink, report)
            if progress:
                progress(len(chunk))
            chunk = []
    if chunk:
        await _send_chunk(chunk, sink, report)
        if progress:
            progress(len(chunk))
    return report


async def _send_chunk(chunk: list[tuple[int, bytes]], sink: Sink, report: ImportReport) -> None:
    digest = hashlib.sha256(b"\n".join(line for _, line in chunk)).hexdigest()[:40]
    grouped: dict[Endpoint, list[tuple[int, dict[str, Any]]]] = {}
    for line_no, line in chunk:
        report.lines += 1
        record, reason, field_name = _parse(line)
        if record is None:
            report.add(line_no, Outcome.INVALID.value, reason, field_name)
            continue
        endpoint = _ENDPOINTS[record.pop("record")]
        grouped.setdefault(endpoint, []).append((line_no, record))
    for endpoint, items in grouped.items():
        body = orjson.dumps({endpoint.value: [record for _, record in items]})
        summary = await sink(endpoint, body, f"import:{digest}:{endpoint.value}")
        problems = {p.index: p for p in summary.problems}
        for index, (line_no, _) in enumerate(items):
            problem = problems.get(index)
            if problem is None:
                report.add(line_no, Outcome.ACCEPTED.value)
            else:
                reason = problem.reason.value if problem.reason else ""
                report.add(line_no, problem.outcome.value, reason, problem.field or "")

"""Self-metrics (Prometheus) and structured logs with request ids.

One `Metrics` object per running app (never the process-global registry), so tests and
several apps in one process do not share counters.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ingest_items = Counter(
            "callscope_ingest_items",
            "Ingested items by endpoint and outcome (accepted, duplicate, invalid, rate_limited), "
            "with the reason for invalid ones.",
            ["endpoint", "outcome", "reason"],
            registry=self.registry,
        )
        self.rejected_requests = Counter(
            "callscope_ingest_rejected_requests",
            "Whole ingest requests refused before item processing, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.queue_rows = Gauge(
            "callscope_writer_queue_rows",
            "Rows waiting for the group-commit writer.",
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "callscope_writer_commit_seconds",
            "Duration of one group commit (all tables, fsync included).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.commit_requests = Histogram(
            "callscope_writer_commit_requests",
            "Requests sharing one group commit.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=self.registry,
        )
        self.rows_stored = Counter(
            "callscope_rows_stored",
            "Rows committed to the store, by table.",
            ["table"],
            registry=self.registry,
        )


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={...}` fields are merged in."""

    _RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in record.__dict__.items() if k not in self._RESERVED})
        if "request_id" not in payload and (rid := request_id.get()):
            payload["request_id"] = rid
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log would duplicate our request log (and has no request id).
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO; the demo traffic would drown the server's own lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)

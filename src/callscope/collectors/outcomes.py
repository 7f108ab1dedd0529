"""Every ingested item ends in exactly one outcome; non-accepted ones carry a closed reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # committed to the store
    DUPLICATE = "duplicate"  # already stored (retry, replayed batch or re-import); not stored again
    INVALID = "invalid"  # failed validation; see the reason and field
    RATE_LIMITED = "rate_limited"  # the writer queue was full; retry the batch later


class Reason(StrEnum):
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"  # a typo like `rtt` for `rtt_ms` would otherwise lose data
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"  # not one of the allowed values
    OUT_OF_RANGE = "out_of_range"  # outside physical limits (usually a unit mistake)
    NOT_FINITE = "not_finite"  # NaN or Infinity
    BAD_ID = "bad_id"  # empty, too long, control characters or surrounding whitespace
    BAD_TIMESTAMP = "bad_timestamp"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    INCONSISTENT = "inconsistent"  # fields contradict each other
    OUT_OF_SCOPE = "out_of_scope"  # the credential may not write this room or user
    NOT_AN_OBJECT = "not_an_object"


@dataclass(frozen=True, slots=True)
class ItemProblem:
    index: int
    outcome: Outcome
    reason: Reason | None
    field: str | None
    message: str

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"index": self.index, "outcome": self.outcome.value}
        if self.reason is not None:
            wire["reason"] = self.reason.value
        if self.field is not None:
            wire["field"] = self.field
        wire["message"] = self.message
        return wire


@dataclass(slots=True)
class BatchSummary:
    """What happened to each item. Items not listed in `problems` were accepted."""

    total: int
    problems: list[ItemProblem] = field(default_factory=list)
    replayed: bool = False

    def count(self, outcome: Outcome) -> int:
        listed = sum(1 for p in self.problems if p.outcome is outcome)
        if outcome is Outcome.ACCEPTED:
            return self.total - len(self.problems)
        return listed

    def reason_counts(self) -> Counter[tuple[str, str]]:
        counts: Counter[tuple[str, str]] = Counter(
            (p.outcome.value, p.reason.value if p.reason else "") for p in self.problems
        )
        counts[(Outcome.ACCEPTED.value, "")] = self.count(Outcome.ACCEPTED)
        return counts

    def to_wire(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "accepted": self.count(Outcome.ACCEPTED),
            "duplicate": self.count(Outcome.DUPLICATE),
            "invalid": self.count(Outcome.INVALID),
            "rate_limited": self.count(Outcome.RATE_LIMITED),
            "replayed": self.replayed,
            "items": [p.to_wire() for p in sorted(self.problems, key=lambda p: p.index)],
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> BatchSummary:
        problems = [
            ItemProblem(
                index=item["index"],
                outcome=Outcome(item["outcome"]),
                reason=Reason(item["reason"]) if "reason" in item else None,
                field=item.get("field"),
                message=item["message"],
            )
            for item in wire["items"]
        ]
        return cls(total=wire["total"], problems=problems, replayed=wire.get("replayed", False))

"""Endless demo traffic for `callscope serve --demo`: a quick backfill, then live meetings.

The backfill sends the last BACKFILL_S of meetings at high speed so the dashboard and the API have
history the moment the server is up; after it, rounds of ROUND_S run in real time (participants
are ONLINE while they are in a meeting). Room ids stay the same across rounds, so each room
collects one room instance per round; session ids carry the round's run id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from callscope.simulate.scenario import ScenarioConfig, build_scenario
from callscope.simulate.traffic import Target, new_run_id, run_simulation

log = logging.getLogger(__name__)
DEMO_ROOMS = 4
DEMO_USERS_PER_ROOM = 3
BACKFILL_S = 600
BACKFILL_SPEEDUP = 200.0
ROUND_S = 600
MAX_ROUNDS = 100_000  # about two years of ten-minute rounds


def run_demo(target: Target, stop: Callable[[], bool], *, seed: int = 7) -> int:
    """Send demo traffic until stop() turns true; returns the rounds completed."""
    completed = 0
    for round_no in range(MAX_ROUNDS):
        if stop():
            break
        backfill = round_no == 0
        config = ScenarioConfig(
            rooms=DEMO_ROOMS,
            users_per_room=DEMO_USERS_PER_ROOM,
            duration_s=BACKFILL_S if backfill else ROUND_S,
            seed=seed + round_no,
            run_id=new_run_id(),
        )
        truth = run_simulation(
            build_scenario(config), target, speedup=BACKFILL_SPEEDUP if backfill else 1.0, stop=stop
        )
        if truth.rejected:
            log.warning("demo round %d: %d items refused, e.g. %s", round_no, truth.rejected, truth.examples)
        completed += truth.completed
    return completed

"""`callscope simulate`: synthetic calls through the HTTP ingest path, with their ground truth."""

from __future__ import annotations

from pathlib import Path

import click
import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from callscope.cli.context import load_settings
from callscope.simulate.scenario import ScenarioConfig, build_scenario
from callscope.simulate.traffic import MAX_SPEEDUP, SimulationError, Target, new_run_id, run_simulation
from callscope.simulate.truth import GroundTruth


@click.command()
@click.option("--url", default=None, help="Callscope base URL (default: CALLSCOPE_PUBLIC_URL).")
@click.option("--app-id", required=True)
@click.option("--api-key", envvar="CALLSCOPE_API_KEY", required=True, help="The app's secret key.")
@click.option("--rooms", type=click.IntRange(1), default=3, show_default=True)
@click.option("--users-per-room", "--users", type=click.IntRange(1), default=4, show_default=True)
@click.option(
    "--duration-s", type=click.IntRange(60), default=180, show_default=True, help="Simulated seconds."
)
@click.option(
    "--speedup",
    type=click.FloatRange(1, MAX_SPEEDUP),
    default=10.0,
    show_default=True,
    help="Simulated seconds per wall-clock second (1 = live; large = backfill the last --duration-s).",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same calls.")
@click.option("--slow-join-ratio", type=click.FloatRange(0, 1), default=0.15, show_default=True)
@click.option("--failed-join-ratio", type=click.FloatRange(0, 1), default=0.1, show_default=True)
@click.option("--episodes-per-minute", type=click.FloatRange(0, 10), default=0.5, show_default=True)
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the ground truth (what was sent and accepted) here as JSON.",
)
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
def simulate(
    url: str | None,
    app_id: str,
    api_key: str,
    rooms: int,
    users_per_room: int,
    duration_s: int,
    speedup: float,
    seed: int,
    slow_join_ratio: float,
    failed_join_ratio: float,
    episodes_per_minute: float,
    truth_path: Path | None,
    quiet: bool,
) -> None:
    """Send synthetic calls (joins, toggles, leaves, samples with impairment episodes) through the
    HTTP ingest path and record what was accepted. Fails when the server refused any item."""
    try:
        config = ScenarioConfig(
            rooms=rooms,
            users_per_room=users_per_room,
            duration_s=duration_s,
            seed=seed,
            run_id=new_run_id(),
            slow_join_ratio=slow_join_ratio,
            failed_join_ratio=failed_join_ratio,
            episodes_per_minute=episodes_per_minute,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    target = Target(url or load_settings().resolved_public_url, app_id, api_key)
    console = Console(stderr=True, quiet=quiet)
    # A bar only makes sense on a terminal; in logs and pipes it would be noise.
    with Progress(
        TextColumn("simulated"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
    ) as bar:
        task = bar.add_task("simulate", total=duration_s)
        try:
            truth = run_simulation(
                build_scenario(config),
                target,
                speedup=speedup,
                on_progress=lambda done_ms, _: bar.update(task, completed=done_ms / 1000),
            )
        except SimulationError as exc:
            raise click.ClickException(str(exc)) from exc
        except httpx.HTTPError as exc:
            raise click.ClickException(f"{target.base_url}: {exc}") from exc
    if truth_path is not None:
        truth.write(truth_path)
    if not quiet:
        click.echo(_summary(truth, truth_path), err=True)
    if truth.rejected:
        raise click.ClickException(f"the server refused {truth.rejected} items, e.g. {truth.examples[0]}")


def _summary(truth: GroundTruth, truth_path: Path | None) -> str:
    totals = truth.to_json()["totals"]
    where = f"; ground truth in {truth_path}" if truth_path else ""
    return (
        f"{totals['rooms']} rooms, {totals['room_instances']} room instances, {totals['sessions']} "
        f"sessions: {totals['events']} events and {totals['samples']} samples accepted "
        f"in {truth.wall_seconds:.1f} s{where}"
    )

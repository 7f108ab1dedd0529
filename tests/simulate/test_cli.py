"""`callscope simulate` as users run it: a separate process posting to a running server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from callscope.cli import main


def simulate(base_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callscope", "simulate", "--url", base_url, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_simulate_writes_its_ground_truth(
    base_url: str, new_app: Callable[[], tuple[str, str]], tmp_path: Path
) -> None:
    app_id, key = new_app()
    path = tmp_path / "truth.json"
    common = ["--app-id", app_id, "--rooms", "2", "--users-per-room", "3", "--duration-s", "60"]
    result = simulate(base_url, *common, "--api-key", key, "--speedup", "600", "--truth", str(path))
    assert result.returncode == 0, result.stderr
    truth = json.loads(path.read_text())
    assert truth["format"] == "callscope-simulation-truth/1" and truth["completed"]
    assert truth["totals"]["rooms"] == 2 and truth["outcomes"]["samples"] == {
        "accepted": truth["totals"]["samples"]
    }
    # Not a terminal: no progress bar, one summary line.
    assert result.stdout == "" and f"{truth['totals']['samples']} samples accepted" in result.stderr
    assert "━" not in result.stderr


def test_quiet_and_refusals(base_url: str, new_app: Callable[[], tuple[str, str]]) -> None:
    """In-process (click's runner): the same command, without a second interpreter start-up."""
    app_id, key = new_app()
    runner = CliRunner()
    args = ["simulate", "--url", base_url, "--app-id", app_id, "--duration-s", "60", "--speedup", "1000"]
    quiet = runner.invoke(main, [*args, "--api-key", key, "--rooms", "1", "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == ""
    wrong_key = runner.invoke(main, [*args, "--api-key", "cs_sk_wrong"])
    assert wrong_key.exit_code == 1 and "401" in wrong_key.stderr
    too_short = runner.invoke(main, [*args, "--api-key", key, "--duration-s", "5"])
    assert too_short.exit_code == 2 and "--duration-s" in too_short.stderr

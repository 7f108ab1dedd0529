"""The CLI as users run it: a separate process, against a stopped or a running server."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from tests.helpers import event, sample
from tests.serverproc import ServerProcess


def created(output: str) -> tuple[str, str]:
    app_id = re.search(r"app_id:\s+(\S+)", output)
    api_key = re.search(r"api_key:\s+(\S+)", output)
    assert app_id and api_key, output
    return app_id[1], api_key[1]


def write_jsonl(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def records() -> list[str]:
    good = [json.dumps({"record": "sample", **sample(session_id=f"imp-{i}")}) for i in range(30)]
    good += [json.dumps({"record": "event", **event(session_id=f"imp-{i}")}) for i in range(5)]
    bad = [
        "{not json",
        json.dumps({"record": "sample", **sample(loss_ratio=12)}),
        json.dumps({"record": "meteor"}),
        json.dumps({"record": "sample", **sample(session_id="imp-nan")}).replace(
            '"rtt_ms": 42.0', '"rtt_ms": NaN'
        ),
    ]
    return good + bad


def test_apps_and_import_with_the_store_closed(tmp_path: Path) -> None:
    cli = ServerProcess(tmp_path / "data")  # not started: the CLI opens the store itself
    app_id, api_key = created(cli.cli("apps", "create", "Acme Meetings").stdout)
    assert api_key.startswith("cs_sk_") and app_id.isdigit()
    assert app_id in cli.cli("apps", "list").stdout
    path = write_jsonl(tmp_path / "dump.jsonl.gz", records())

    table = cli.cli("import", str(path), "--app-id", app_id).stdout
    assert "39 lines" in table and "out_of_range" in table and "loss_ratio" in table
    first = json.loads(cli.cli("import", str(path), "--app-id", app_id, "--json").stdout)
    # The table run stored everything; the JSON run is already a re-import.
    assert first["lines"] == 39
    assert first["outcomes"] == {"duplicate": 35, "invalid": 4}
    problems = {(p["reason"], p["field"]): p["first_lines"] for p in first["problems"]}
    assert problems == {
        ("malformed_json", ""): [36],
        ("out_of_range", "loss_ratio"): [37],
        ("invalid_value", "record"): [38],
        ("not_finite", ""): [39],
        ("", ""): list(range(1, 6)),
    }
    other = tmp_path / "copy-under-another-name.jsonl"
    other.write_bytes(gzip.decompress(path.read_bytes()))  # same records, not gzipped
    again = json.loads(cli.cli("import", str(other), "--app-id", app_id, "--json").stdout)
    assert again["outcomes"].get("accepted", 0) == 0

    unknown = cli.cli("import", str(path), "--app-id", "999", check=False)
    assert unknown.returncode != 0 and "no app '999'" in unknown.stderr


def test_cli_goes_through_the_running_server(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        app_id, api_key = created(server.cli("apps", "create", "via-server").stdout)
        path = write_jsonl(tmp_path / "dump.jsonl.gz", records()[:10])
        refused = server.cli("import", str(path), "--app-id", app_id, check=False)
        assert refused.returncode != 0 and "--api-key" in refused.stderr
        imported = server.cli("import", str(path), "--app-id", app_id, "--api-key", api_key, "--json")
        assert json.loads(imported.stdout)["outcomes"] == {"accepted": 10}
    finally:
        server.stop()


def test_serve_refuses_default_secrets_outside_demo(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data")
    env = {k: v for k, v in proc.env.items() if k not in ("CALLSCOPE_ADMIN_TOKEN", "CALLSCOPE_TOKEN_SECRET")}
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "callscope", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "CALLSCOPE_TOKEN_SECRET must be set" in result.stderr

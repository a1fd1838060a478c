"""``rapport --version``, the API tokens' life cycle on the command line (add, list, revoke: the
token itself is never shown again), and the demo: it keeps the tokens handed out before and
can serve its dashboard on the port asked for."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

import orjson
from typer.testing import CliRunner

from domain.access import UserRole
from infra.cli.app import app
from infra.cli.common import ExitCode
from infra.http.tokens import add_token, digest, read_tokens

runner = CliRunner()


def test_version_prints_the_installed_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"rapport {version('rapport')}\n"


def _tokens_env(path: Path) -> dict[str, str]:
    return {"RAPPORT_API_TOKENS_FILE": str(path)}


def test_tokens_are_listed_by_name_role_date_and_fingerprint_never_shown(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    env = _tokens_env(path)
    empty = runner.invoke(app, ["token", "list"], env=env)
    assert empty.exit_code == 0 and "no tokens in" in empty.output
    assert (
        orjson.loads(runner.invoke(app, ["token", "list", "--format", "json"], env=env).stdout)
        == []
    )
    added = runner.invoke(app, ["token", "add", "--role", "viewer", "--name", "screen"], env=env)
    token = added.stdout.strip()
    add_token(path, UserRole.COMPLIANCE, "dpo")

    table = runner.invoke(app, ["token", "list"], env=env)
    assert table.exit_code == 0, table.output
    assert token not in table.output and digest(token) not in table.output
    assert "screen" in table.output and "viewer" in table.output and "dpo" in table.output
    assert digest(token)[:12] in table.output
    listed = orjson.loads(runner.invoke(app, ["token", "list", "--format", "json"], env=env).stdout)
    assert [(t["name"], t["role"]) for t in listed] == [("screen", "viewer"), ("dpo", "compliance")]
    assert listed[0]["fingerprint"] == digest(token)[:12]
    assert listed[0]["created"] and listed[0]["created"].endswith("+00:00")

    unknown = runner.invoke(app, ["token", "revoke", "nobody"], env=env)
    assert unknown.exit_code == ExitCode.INVALID
    assert "no token named 'nobody'" in unknown.output
    revoked = runner.invoke(app, ["token", "revoke", "screen"], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert [t.name for t in read_tokens(path)] == ["dpo"]
    assert oct(path.stat().st_mode)[-3:] == "600"


def test_tokens_added_before_their_date_was_kept_list_without_one(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(
        orjson.dumps({"tokens": [{"name": "old", "role": "viewer", "sha256": "ab" * 32}]})
    )
    listed = runner.invoke(app, ["token", "list", "--format", "json"], env=_tokens_env(path))
    assert orjson.loads(listed.stdout) == [
        {"name": "old", "role": "viewer", "created": None, "fingerprint": "ab" * 6}
    ]
    assert "old" in runner.invoke(app, ["token", "list"], env=_tokens_env(path)).output


def test_the_demo_keeps_the_tokens_handed_out_before_and_renews_its_own(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    env = {"RAPPORT_API_TOKENS_FILE": None}
    first = runner.invoke(app, ["demo", "--candidates", "30", "--workdir", str(workdir)], env=env)
    assert first.exit_code == 0, first.output
    tokens_file = workdir / "rapport.tokens.json"
    ops = add_token(tokens_file, UserRole.RECRUITER, "ops")

    again = runner.invoke(app, ["demo", "--candidates", "30", "--workdir", str(workdir)], env=env)
    assert again.exit_code == 0, again.output
    assert "beside 1 token(s) kept from before" in again.stdout
    kept = {t.name: t for t in read_tokens(tokens_file)}
    assert sorted(kept) == ["demo", "ops"]
    assert kept["ops"].digest == digest(ops)
    renewed = again.stdout.split("paste the viewer token")[1].split()[0]
    assert kept["demo"].digest == digest(renewed)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_demo_serves_its_dashboard_on_the_port_asked_for(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    command = [sys.executable, "-m", "infra.cli", "demo", "--candidates", "30", "--workdir",
               str(tmp_path / "demo"), "--serve", "--port", str(port)]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as page:
                    assert page.status == 200
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert f"http://127.0.0.1:{port}/login" in log.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_demo_checks_the_port_before_doing_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        workdir = tmp_path / "demo"
        result = runner.invoke(
            app, ["demo", "--workdir", str(workdir), "--serve", "--port", str(port)]
        )
    assert result.exit_code == ExitCode.INVALID
    assert f"--port: 127.0.0.1:{port} is in use" in result.output
    assert not workdir.exists()

"""Logs are structured (JSON off a terminal) and never carry personal data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import structlog

from infra.core.logging import configure
from infra.core.settings import Settings
from tests.support.files import store_env, story, write_jsonl


def test_an_import_logs_json_without_names_emails_or_message_text(
    settings: Settings, tmp_path: Path
) -> None:
    lines = story("C-1") + story("C-2")
    lines.append({"type": "opted_out", "candidate": "C-1", "occurred_at": lines[-1]["occurred_at"]})
    data = write_jsonl(tmp_path / "export.jsonl", lines)
    run = subprocess.run(
        [sys.executable, "-m", "infra.cli", "import", "--allow-erasures", str(data)],
        env=os.environ | store_env(settings) | {"RAPPORT_LOG_FORMAT": "auto"},
        capture_output=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode()
    logs = [orjson.loads(line) for line in run.stderr.splitlines() if line.startswith(b"{")]
    assert any(entry["event"] == "ledger.batch_written" for entry in logs)
    everything = run.stdout + run.stderr
    for personal in (b"Person C-1", b"c-1@example.org", b"Dear ...", b"Your oncology"):
        assert personal not in everything


def test_a_careless_log_call_is_scrubbed(capsys) -> None:
    configure("info", "json")
    structlog.get_logger("test").info("oops", email="ada@example.org", personal={"name": "Ada"})
    line = orjson.loads(capsys.readouterr().err)
    assert line["email"] == line["personal"] == "[personal data withheld]"

"""The soak and fault script, small: writers over HTTP while `rapport serve` is killed with
kill -9, an overlapping import, poison requests; 0 lost, 0 doubled, 0 false refusals, chains
intact, the views kept across the kills equal to a rebuild. Both stores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infra.core.settings import Settings


def test_the_soak_run_loses_nothing_doubles_nothing_and_refuses_only_poison(
    settings: Settings, tmp_path: Path
) -> None:
    store = ["--database-url", settings.database_url] if settings.database_url else []
    run = subprocess.run(
        [sys.executable, "-m", "infra.bench.soak", "--candidates", "60", "--kills", "3",
         "--kill-every", "2", "--rate", "60", "--workdir", str(tmp_path / "soak"), *store],
        capture_output=True, check=False, timeout=900)  # fmt: skip
    report = run.stdout.decode()
    logs = tmp_path / "soak" / "serve.log"
    tail = logs.read_text()[-4000:] if logs.exists() else ""
    assert run.returncode == 0, report + run.stderr.decode()[-3000:] + tail
    assert "lost / doubled" in report and "0 / 0" in report

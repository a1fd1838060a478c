"""Writers racing on the same touchpoints, as processes: an import against `rapport serve`
recording the same history over HTTP, and two imports of one file. Whoever loses a race sees
duplicates, never refusals, and says so. Both stores."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from domain.access import UserRole
from infra.core.settings import Settings
from infra.http.tokens import add_token
from infra.store.chain_key import ChainKeyInvalid, load_secret
from infra.store.ledger import Ledger
from infra.synthetic.generator import write_jsonl
from tests.support.server import Server
from tests.support.server import producer as producer_command


def history(folder: Path, candidates: int) -> tuple[Path, int]:
    """A generated history without erasures (a recruiter sends it), and its line count."""
    whole = folder / "whole.jsonl"
    write_jsonl(whole, candidates=candidates, seed=12)
    lines = [line for line in whole.read_bytes().splitlines() if b"erasure_requested" not in line]
    data = folder / "history.jsonl"
    data.write_bytes(b"\n".join(lines) + b"\n")
    return data, len(lines)


def ledger_state(settings: Settings) -> tuple[int, list[object]]:
    ledger = Ledger(settings)
    try:
        # Counted: PostgreSQL's positions come from a sequence, so a rolled-back write (a
        # conflict) leaves a gap.
        events = sum(1 for _ in ledger.history())
        return events, list(ledger.ledger_recorder.refusals())
    finally:
        ledger.close()


def import_process(settings: Settings, data: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "import", str(data), "--batch-size", "40"],
            env=Server.environment(settings), stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip


def counts(log: Path) -> tuple[int, int]:
    text = log.read_text()
    found = re.search(r"recorded (\d+) touchpoint\(s\).*?, (\d+) duplicate\(s\) skipped", text)
    assert found, text[-3000:]
    return int(found[1]), int(found[2])


def test_an_import_racing_serve_on_the_same_touchpoints_reports_duplicates_not_refusals(
    settings: Settings, tmp_path: Path
) -> None:
    data, lines = history(tmp_path, 120)
    tokens_file = tmp_path / "tokens.json"
    token = add_token(tokens_file, UserRole.RECRUITER, "crm")
    server = Server(settings, tokens_file, tmp_path / "serve.log")
    server.start()
    try:
        producer = subprocess.Popen(
            producer_command(f"{server.url}/api/v1/touchpoints/batch", token, data, batch=20),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        importer = import_process(settings, data, tmp_path / "import.log")
        assert importer.wait(timeout=600) == 0, (tmp_path / "import.log").read_text()[-3000:]
        _, problems = producer.communicate(timeout=600)
        assert producer.returncode == 0, problems.decode()[-3000:] + server.logs()
    finally:
        server.stop()
    recorded, duplicates = counts(tmp_path / "import.log")
    assert recorded + duplicates == lines
    events, refusals = ledger_state(settings)
    assert events == lines  # every touchpoint once: none lost, none doubled
    assert refusals == []  # nothing that was recorded is named a refusal


def test_two_imports_of_one_file_say_what_each_really_did(
    settings: Settings, tmp_path: Path
) -> None:
    data, lines = history(tmp_path, 120)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    imports = [import_process(settings, data, log) for log in logs]
    for process, log in zip(imports, logs, strict=True):
        assert process.wait(timeout=600) == 0, log.read_text()[-3000:]
    (recorded_a, duplicates_a), (recorded_b, duplicates_b) = counts(logs[0]), counts(logs[1])
    assert recorded_a + duplicates_a == lines and recorded_b + duplicates_b == lines
    assert recorded_a + recorded_b == lines
    events, refusals = ledger_state(settings)
    assert events == lines and refusals == []


def test_a_ledger_opened_while_another_process_writes_waits_for_it(tmp_path: Path) -> None:
    """SQLite: a transaction that reads before it writes used to fail at once ("database is
    locked") when another process wrote in between; the CI run above hit it once. Here the
    other process keys an older ledger's chain while this one is doing the same."""
    settings = Settings(db=tmp_path / "rapport.db")
    ledger = Ledger(settings)
    raw = sqlite3.connect(settings.db, isolation_level=None)
    raw.execute("DELETE FROM ledger_chain_keyed")  # as a ledger from before keyed links
    raw.close()

    holding, release = threading.Event(), threading.Event()

    def other_process() -> None:
        other = sqlite3.connect(settings.db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO ledger_chain_keyed VALUES (1, 1, 'other', x'00')")
        holding.set()
        release.wait(timeout=60)
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=other_process)
    holder.start()
    assert holding.wait(timeout=60)
    timer = threading.Timer(0.5, release.set)  # the other writer commits while we wait
    timer.start()
    try:
        keyed = ledger.ledger_recorder.key_chain("ours", lambda position: b"seal")
    finally:
        release.set()
        holder.join(timeout=60)
        timer.cancel()
        ledger.close()
    assert keyed.key_id == "other"  # the first to key the chain wins; the second waited


def keys_loaded_at_once(settings: Settings, openers: int) -> tuple[list[bytes | None], list[str]]:
    """What each of ``openers`` threads, released together, loads (or fails to) as the key."""
    start = threading.Barrier(openers)
    found: list[bytes | None] = []
    failed: list[str] = []

    def opener() -> None:
        start.wait(timeout=60)
        try:
            found.append(load_secret(settings, create=True))
        except ChainKeyInvalid as problem:
            failed.append(str(problem))

    threads = [threading.Thread(target=opener) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return found, failed


def test_openers_of_one_new_ledger_agree_on_its_chain_key(tmp_path: Path) -> None:
    """The key file used to be created empty and then written: an opener reading it in
    between found "not 64 hex digits" and could not write. Six openers at once, twenty times."""
    for round_ in range(20):
        settings = Settings(db=tmp_path / f"{round_}.db", chain_key_file=tmp_path / f"{round_}.key")
        found, failed = keys_loaded_at_once(settings, 6)
        assert failed == [] and len(found) == 6 and len(set(found)) == 1
        assert settings.chain_key_path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("CREATE TABLE creating (id INTEGER)")  # a new file, in the middle of being made
print("holding", flush=True)
sys.stdin.read()  # until the test says so
db.execute("COMMIT")
"""


def test_a_ledger_opened_while_another_process_creates_its_file_waits_for_it(
    tmp_path: Path,
) -> None:
    """SQLite switches a new file to WAL without waiting on its busy handler: a second process
    opening the ledger while the first was still creating it failed with "database is locked"
    (CI saw it once). Now it waits its turn (``SQLITE_LOCK_TIMEOUT``)."""
    settings = Settings(db=tmp_path / "rapport.db")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(settings.db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "holding"
    releaser = threading.Timer(0.5, holder.stdin.close)  # the creator finishes while we wait
    releaser.start()
    try:
        ledger = Ledger(settings)
        ledger.close()
    finally:
        releaser.join(timeout=60)
        assert holder.wait(timeout=60) == 0

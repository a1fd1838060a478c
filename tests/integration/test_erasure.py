"""Erasure by crypto-shredding (GDPR Art. 17): after ``rapport erase``, the person's name and
email are nowhere in the database files, the topics, the views or the logs; their key is gone
from the files; the journey says "erased"; the metrics and the chains are unchanged. On Kafka,
the candidates topic's tombstone, once compacted, leaves nothing that identifies the person on
any topic: a consumer group rebuilt from the topics then counts their touchpoints under no
segment of theirs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psycopg
from kafka.admin import ConfigResource, ConfigResourceType

from infra.core.settings import Settings
from infra.store.ledger import Ledger
from infra.streaming.topics import Topics, admin_client
from tests.integration.test_streaming import consume_until, relay_everything
from tests.support.builders import at
from tests.support.files import record_lines, story, write_jsonl
from tests.support.streaming import read_topic, stream_env

NAME, EMAIL = b"Imani Adeyemi-Clarke", b"imani.adeyemi@clinical-example.org"
BODY = b"Congratulations on leading the phase III oncology site"


def person() -> list[dict[str, object]]:
    """A candidate with a name, an email, a phone number and a personal message."""
    lines = story("C-9")
    phone = "+44 20 7946 0123"
    lines[0]["personal"] = {"name": NAME.decode(), "email": EMAIL.decode(), "phone": phone}
    lines[1]["personal"] = {"subject": "Your site work", "body": BODY.decode()}
    lines.append({"type": "call_held", "candidate": "C-9", "occurred_at": at(5),
                  "recruiter": "rec-1", "personal": {"text": f"{NAME.decode()} prefers calls"},
                  "source_id": "crm-C-9-call"})  # fmt: skip
    return lines


def run(settings: Settings, *args: str, log: Path) -> bytes:
    """Run a command; its logs, and its output unless it is a subject-access export, go to
    ``log``."""
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        env=stream_env(settings),
        capture_output=True,
        check=False,
        timeout=300,
    )
    with log.open("ab") as sink:
        sink.write(done.stderr if "subject-access" in args else done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr).decode()[-2000:]
    return done.stdout


def database_files(settings: Settings) -> list[Path]:
    """The files that hold the ledger and its views (for PostgreSQL, its whole data folder)."""
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
            (folder,) = conn.execute("SHOW data_directory").fetchone()  # type: ignore[misc]
        return [p for p in Path(folder).rglob("*") if p.is_file()]
    files = [p for p in settings.db.parent.iterdir() if p.suffix not in (".jsonl", ".log")]
    assert {"rapport.db", "rapport.views.db"} <= {p.name for p in files}
    return files


def key_files(settings: Settings) -> list[Path]:
    """Where the candidates' keys are stored: the SQLite files, or the key table's own file."""
    if not settings.database_url:
        return database_files(settings)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        (folder,) = conn.execute("SHOW data_directory").fetchone()  # type: ignore[misc]
        (relation,) = conn.execute(  # type: ignore[misc]
            "SELECT pg_relation_filepath(%s)",
            (f"{settings.database_schema}.ledger_events_candidate_keys",),
        ).fetchone()
    return [p for p in Path(folder).glob(f"{relation}*") if p.is_file()]


def found_in(paths: list[Path], *needles: bytes) -> list[str]:
    hits = []
    for path in paths:
        try:
            data = path.read_bytes()
        except (FileNotFoundError, PermissionError):
            continue  # a temporary file the server removed meanwhile
        hits += [f"{path.name}: {needle!r}" for needle in needles if needle in data]
    return hits


def test_an_erased_candidate_can_no_longer_be_found_anywhere(
    stream_settings: Settings, tmp_path: Path
) -> None:
    settings = stream_settings
    log = tmp_path / "everything.log"
    data = write_jsonl(tmp_path / "export.jsonl", person() + story("C-1") + story("C-2"))
    run(settings, "import", "--allow-erasures", str(data), log=log)
    run(settings, "relay", "--until-caught-up", log=log)
    metrics_before = run(settings, "metrics", "--format", "json", "--as-of", "2026-11-30", log=log)
    journey_before = orjson.loads(run(settings, "journey", "C-9", "--format", "json", log=log))
    assert journey_before["stage"] != "erased"

    # Before: sealed at rest already, and opened for the subject-access export only.
    assert found_in(database_files(settings), NAME, EMAIL, BODY) == []
    access = orjson.loads(run(settings, "audit", "subject-access", "C-9", log=log))
    assert access["personal_data"]["email"] == EMAIL.decode()
    assert access["touchpoints"][1]["personal"]["body"] == BODY.decode()
    ledger = Ledger(settings)
    try:
        cid = ledger.candidate("C-9").id
        key = ledger.ledger_recorder.candidate_key(cid)
    finally:
        ledger.close()
    assert key is not None and found_in(key_files(settings), key) != []

    out = run(settings, "erase", "C-9", "--reason", "data_subject_request", "--by", "dpo-7",
              log=log)  # fmt: skip
    assert b"erased candidate C-9 at position 17: their key is destroyed" in out
    run(settings, "relay", "--until-caught-up", log=log)

    # After: the key is gone from the files; nothing of the person anywhere.
    assert found_in(key_files(settings), key) == []
    assert found_in(database_files(settings), NAME, EMAIL, BODY) == []
    topics = Topics.of(settings)
    messages = read_topic(settings, topics.touchpoints)
    assert len(messages) == 17
    kinds = [orjson.loads(m.value)["type"] for m in messages]
    assert kinds.count("erasure_requested") == 1  # the notice to forget
    # The touchpoints never name anyone: the CRM's reference and profile are on the candidates
    # topic, where the erasure left a tombstone (null value) under the candidate's key.
    for needle in (b"C-9", NAME, EMAIL, BODY, b"Imani", b"+44 20 7946 0123"):
        assert needle not in _bytes(messages)
    records = read_topic(settings, topics.candidates)
    mine = [m for m in records if m.key == str(cid).encode()]
    assert [m.value is None for m in mine] == [False, True]  # the record, then its tombstone
    assert b"C-9" in mine[0].value

    access = orjson.loads(run(settings, "audit", "subject-access", "C-9", log=log))
    assert access["erased"] is True and access["personal_data"] == "erased"
    assert access["erasure"]["reason"] == "data_subject_request"
    assert access["erasure"]["scrubbed_at"] is not None
    assert {t["personal"] for t in access["touchpoints"][:2]} == {"erased"}
    assert access["touchpoints"][-1]["type"] == "erasure_requested"
    assert access["touchpoints"][-1]["by"] == "dpo-7"
    journey = orjson.loads(run(settings, "journey", "C-9", "--format", "json", log=log))
    assert journey["stage"] == "erased"
    metrics_after = run(settings, "metrics", "--format", "json", "--as-of", "2026-11-30", log=log)
    assert metrics_after == metrics_before
    verified = run(settings, "audit", "verify", log=log)
    assert b"ledger intact: 17 event(s), 3 candidate(s)" in verified
    again = run(settings, "erase", "C-9", "--reason", "data_subject_request", log=log)
    assert b"was already erased" in again
    export = run(settings, "audit", "export", "C-9", log=log)
    assert len(orjson.loads(export)["touchpoints"]) == 7

    # The logs and output of every command above, the subject-access exports' output aside.
    logged = log.read_bytes()
    assert b"ledger.keys_scrubbed" in logged
    for needle in (NAME, EMAIL, BODY):
        assert needle not in logged

    # Compaction, forced by the topic's own settings (in production: within about a day).
    _compact_at_once(settings, topics.candidates)
    deadline, more = time.monotonic() + 240, 0
    while any(
        m.key == str(cid).encode() and m.value for m in read_topic(settings, topics.candidates)
    ):
        assert time.monotonic() < deadline, "the candidates topic was not compacted in 240 s"
        more += 1  # a later record rolls the segment that holds the tombstone
        record_lines(settings, list(enumerate(_touchpoints(story(f"D-{more}")), start=1)))
        relay_everything(settings)
        time.sleep(1.0)
    everything = b"".join(_bytes(read_topic(settings, topic)) for topic in topics.all())
    for needle in (b"C-9", NAME, EMAIL, BODY, b"Imani", b"+44 20 7946 0123"):
        assert needle not in everything

    # A group rebuilt from the topics now: every touchpoint counted, the erased person's
    # outreach in the segment whose status is unknown; the embedded views keep theirs.
    events = 17 + 5 * more
    consume_until(settings, "after", events, publish_alerts=False)
    question = ("metrics", "--format", "json", "--basis", "all", "--by", "status",
                "--as-of", "2027-01-01")  # fmt: skip
    embedded = orjson.loads(run(settings, *question, log=log))
    group = orjson.loads(run(settings, *question, "--group", "after", log=log))
    by_status = {s["status"]: s["outreach"] for s in group["segments"]}
    assert by_status == {"passive": sum(s["outreach"] for s in embedded["segments"]) - 1, None: 1}


def _bytes(messages: list[object]) -> bytes:
    return b"".join(
        (m.key or b"") + (m.value or b"") + b"".join(v for _, v in m.headers)  # type: ignore[attr-defined]
        for m in messages
    )


def _compact_at_once(settings: Settings, topic: str) -> None:
    """The candidates topic's compaction made immediate: segments roll and are cleaned at
    once, tombstones are dropped at once (the broker's cleaner looks every second)."""
    configs = {
        "cleanup.policy": "compact",
        "segment.ms": "100",
        "min.cleanable.dirty.ratio": "0.001",
        "min.compaction.lag.ms": "0",
        "max.compaction.lag.ms": "100",
        "delete.retention.ms": "100",
    }
    with admin_client(settings) as admin:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)])


def test_a_crash_before_the_files_are_cleaned_is_finished_at_the_next_open(
    settings: Settings, tmp_path: Path
) -> None:
    ledger = Ledger(settings)
    try:
        lines = [(n, line) for n, line in enumerate(_touchpoints(person()), start=1)]
        ledger.write(ledger.decide(lines))
        ledger.erase("C-9", _reason())
        (erasure,) = ledger.ledger_recorder.erasures()
        assert erasure.scrubbed_at is not None
    finally:
        ledger.close()
    _forget_scrub(settings)  # as if the process died between the commit and the clean-up
    reopened = Ledger(settings)
    try:
        (erasure,) = reopened.ledger_recorder.erasures()
        assert erasure.scrubbed_at is not None
        assert reopened.ledger_recorder.candidate_key(erasure.candidate_id) is None
    finally:
        reopened.close()


def test_an_erasure_in_an_import_destroys_the_key_too(settings: Settings) -> None:
    lines = [*person(), {"type": "erasure_requested", "candidate": "C-9", "occurred_at": at(9),
                         "reason": "retention_expired"}]  # fmt: skip
    ledger = Ledger(settings)
    try:
        ledger.write(ledger.decide(list(enumerate(_touchpoints(lines), start=1))))
        cid = ledger.candidate("C-9").id
        assert ledger.ledger_recorder.candidate_key(cid) is None
        assert [e.reason for e in ledger.ledger_recorder.erasures()] == ["retention_expired"]
    finally:
        ledger.close()


def _touchpoints(lines: list[dict[str, object]]) -> list[object]:
    from domain.touchpoints import TOUCHPOINT

    return [TOUCHPOINT.validate_python(line) for line in lines]


def _reason() -> object:
    from domain.vocabulary import ErasureReason

    return ErasureReason.DATA_SUBJECT_REQUEST


def _forget_scrub(settings: Settings) -> None:
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(
                f"UPDATE {settings.database_schema}.ledger_events_erasures SET scrubbed_at = NULL"
            )
        return
    import sqlite3

    with sqlite3.connect(settings.db) as conn:
        conn.execute("UPDATE erasures SET scrubbed_at = NULL")
    assert os.path.exists(settings.db)

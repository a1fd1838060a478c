"""Tamper evidence: someone with write access edits, deletes, inserts or reorders stored events
straight in the SQLite file or the PostgreSQL tables; ``rapport audit verify`` names the first
broken link and exits 5. An untouched ledger verifies, and keeps verifying after an erasure."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from infra.cli import app
from infra.settings import Settings
from tests.files import store_env, story, write_jsonl

runner = CliRunner()


def rapport(settings: Settings, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=store_env(settings))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def recorded(settings: Settings, tmp_path: Path) -> Settings:
    """Three candidates' stories: C-1 at positions 1-5, C-2 at 6-10, C-3 at 11-15."""
    lines = story("C-1") + story("C-2") + story("C-3")
    code, _, err = rapport(settings, "import", str(write_jsonl(tmp_path / "a.jsonl", lines)))
    assert code == 0, err
    code, out, _ = rapport(settings, "audit", "verify")
    assert code == 0 and "ledger intact: 15 event(s), 3 candidate(s)" in out
    return settings


class Tables:
    """The ledger's own tables, reached around Rapport: what a tamperer would do."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.postgres = bool(settings.database_url)
        schema = settings.database_schema
        self.events = f"{schema}.ledger_events" if self.postgres else "stored_events"
        self.chain = f"{schema}.ledger_events_chain" if self.postgres else "ledger_chain"
        self.position = "notification_id" if self.postgres else "rowid"
        self.mark = "%s" if self.postgres else "?"

    @contextmanager
    def sql(self) -> Iterator[Callable[..., list[Any]]]:
        if self.postgres:
            assert self.settings.database_url
            with psycopg.connect(self.settings.database_url) as conn:
                yield lambda q, *p: _rows(conn.execute(q.replace("?", "%s"), p))
        else:
            conn = sqlite3.connect(self.settings.db)
            try:
                yield lambda q, *p: conn.execute(q, p).fetchall()
                conn.commit()
            finally:
                conn.close()

    def event(self, position: int) -> tuple[Any, int, str, bytes]:
        with self.sql() as run:
            (row,) = run(
                f"SELECT originator_id, originator_version, topic, state FROM {self.events}"
                f" WHERE {self.position} = ?",
                position,
            )
        return row[0], row[1], row[2], bytes(row[3])


def _rows(cursor: Any) -> list[Any]:
    return cursor.fetchall() if cursor.description else []


def broken(settings: Settings, *args: str) -> str:
    code, _, err = rapport(settings, "audit", "verify", *args)
    assert code == 5, err
    return err


def test_an_edited_event_is_detected(recorded: Settings) -> None:
    tables = Tables(recorded)
    state = tables.event(8)[3]  # C-2's reply
    assert b'"interested"' in state
    with tables.sql() as run:
        run(f"UPDATE {tables.events} SET state = ? WHERE {tables.position} = ?",
            state.replace(b'"interested"', b'"not_now"'), 8)  # fmt: skip
    err = broken(recorded)
    assert "BROKEN at position 8: candidate C-2" in err and "version 3" in err
    assert "it was edited" in err and "7 event(s) before it verified" in err
    assert "it was edited" in broken(recorded, "C-2")
    assert rapport(recorded, "audit", "verify", "C-1")[0] == 0  # the others are intact


def test_a_deleted_event_is_detected(recorded: Settings) -> None:
    tables = Tables(recorded)
    with tables.sql() as run:
        run(f"DELETE FROM {tables.events} WHERE {tables.position} = ?", 9)  # C-2's application
    err = broken(recorded)
    assert "BROKEN at position 9: candidate C-2" in err and "it was deleted" in err
    assert "version 4 is missing" in broken(recorded, "C-2")


def test_a_deleted_event_with_its_link_is_detected(recorded: Settings) -> None:
    tables = Tables(recorded)
    with tables.sql() as run:
        run(f"DELETE FROM {tables.events} WHERE {tables.position} = ?", 9)
        run(f"DELETE FROM {tables.chain} WHERE position = ?", 9)
    err = broken(recorded)
    assert "BROKEN at position 10: candidate C-2" in err
    assert "version 5 follows version 3" in err
    assert "version 4 is missing" in broken(recorded, "C-2")


def test_an_inserted_event_is_detected(recorded: Settings) -> None:
    tables = Tables(recorded)
    cid, _, topic, state = tables.event(9)  # C-2's application, copied as a sixth event
    with tables.sql() as run:
        run(f"INSERT INTO {tables.events} (originator_id, originator_version, topic, state)"
            " VALUES (?, ?, ?, ?)", cid, 6, topic, state)  # fmt: skip
    err = broken(recorded)
    assert "BROKEN at position 16: candidate C-2" in err and "it was inserted" in err
    assert "inserted" in broken(recorded, "C-2")


def test_an_inserted_event_with_a_forged_link_is_detected(recorded: Settings) -> None:
    tables = Tables(recorded)
    cid, _, topic, state = tables.event(9)
    with tables.sql() as run:
        run(f"INSERT INTO {tables.events} (originator_id, originator_version, topic, state)"
            " VALUES (?, ?, ?, ?)", cid, 6, topic, state)  # fmt: skip
        (link,) = run(f"SELECT candidate_link, ledger_link FROM {tables.chain} WHERE position = 10")
        run(f"INSERT INTO {tables.chain} VALUES (?, ?, ?, ?, ?)", 16, cid, 6, link[0], link[1])
    assert "it was edited" in broken(recorded)


def test_reordered_events_are_detected(recorded: Settings) -> None:
    tables = Tables(recorded)
    first, second = tables.event(6), tables.event(7)  # C-2's registration and outreach
    with tables.sql() as run:
        # Swap their contents: each row keeps its place, the history reads in another order.
        run(f"UPDATE {tables.events} SET topic = ?, state = ? WHERE {tables.position} = ?",
            second[2], second[3], 6)  # fmt: skip
        run(f"UPDATE {tables.events} SET topic = ?, state = ? WHERE {tables.position} = ?",
            first[2], first[3], 7)  # fmt: skip
    err = broken(recorded)
    assert "BROKEN at position 6: candidate C-2" in err and "edited" in err
    assert "BROKEN" in broken(recorded, "C-2")


def test_swapped_versions_are_detected(recorded: Settings) -> None:
    tables = Tables(recorded)
    cid = tables.event(2)[0]  # C-1's outreach (v2) at position 2, its reply (v3) at 3
    with tables.sql() as run:
        for old, new in ((2, 99), (3, 2), (99, 3)):
            run(f"UPDATE {tables.events} SET originator_version = ?"
                " WHERE originator_id = ? AND originator_version = ?", new, cid, old)  # fmt: skip
    err = broken(recorded)
    assert "BROKEN at position 2: candidate C-1" in err and "moved" in err
    assert "BROKEN" in broken(recorded, "C-1")


def test_a_ledger_cut_short_with_its_links_is_caught_by_an_anchor(recorded: Settings) -> None:
    code, out, _ = rapport(recorded, "audit", "verify")
    assert code == 0
    head = out.split("head ")[1].strip()
    assert head.startswith("15:")
    tables = Tables(recorded)
    with tables.sql() as run:
        run(f"DELETE FROM {tables.events} WHERE {tables.position} >= ?", 14)
        run(f"DELETE FROM {tables.chain} WHERE position >= ?", 14)
    assert rapport(recorded, "audit", "verify")[0] == 0  # a chain alone cannot see a cut tail
    err = broken(recorded, "--anchor", head)
    assert "BROKEN at position 15" in err and "ends at position 13, before the anchor" in err
    assert rapport(recorded, "audit", "verify", "--anchor", "15:zz")[0] == 2


def test_an_erasure_keeps_the_chains_intact(recorded: Settings) -> None:
    assert rapport(recorded, "erase", "C-2", "--reason", "data_subject_request")[0] == 0
    code, out, _ = rapport(recorded, "audit", "verify")
    assert code == 0 and "ledger intact: 16 event(s), 3 candidate(s)" in out
    assert rapport(recorded, "audit", "verify", "C-2")[0] == 0

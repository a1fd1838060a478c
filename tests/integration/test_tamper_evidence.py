"""Tamper evidence: someone with write access edits, deletes, inserts or reorders stored events
straight in the SQLite file or the PostgreSQL tables; ``rapport audit verify`` names the first
broken link and exits 5. An untouched ledger verifies, and keeps verifying after an erasure."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import psycopg
import pytest
from typer.testing import CliRunner

from infra.cli.app import app
from infra.core.settings import Settings
from infra.read.views import ViewStore
from tests.support.files import store_env, story, write_jsonl
from tests.support.streaming import read_topic, stream_env

runner = CliRunner()


def rapport(settings: Settings, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=store_env(settings))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def recorded(settings: Settings, tmp_path: Path) -> Settings:
    """Three candidates' stories: C-1 at positions 1-5, C-2 at 6-10, C-3 at 11-15 (one import
    each: an import writes its candidates in the order of their ids, not of the file)."""
    for candidate in ("C-1", "C-2", "C-3"):
        data = write_jsonl(tmp_path / f"{candidate}.jsonl", story(candidate))
        code, _, err = rapport(settings, "import", str(data))
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

    def cut_tail(self, position: int, *, links: bool = True) -> None:
        """Delete the events from ``position`` on (and their links): a tail cut off."""
        with self.sql() as run:
            run(f"DELETE FROM {self.events} WHERE {self.position} >= ?", position)
            if links:
                run(f"DELETE FROM {self.chain} WHERE position >= ?", position)

    def edit_reply(self, position: int) -> None:
        """Turn the reply stored at ``position`` from interested into not_now, in place."""
        state = self.event(position)[3]
        assert b'"interested"' in state
        with self.sql() as run:
            run(f"UPDATE {self.events} SET state = ? WHERE {self.position} = ?",
                state.replace(b'"interested"', b'"not_now"'), position)  # fmt: skip

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
    Tables(recorded).edit_reply(8)  # C-2's reply
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


def test_a_ledger_cut_short_with_its_links_is_caught_by_the_checkpoint(
    recorded: Settings,
) -> None:
    code, out, _ = rapport(recorded, "audit", "verify")
    assert code == 0
    head = out.split("head ")[1].strip()
    assert head.startswith("15:")
    tables = Tables(recorded)
    tables.cut_tail(14)
    err = broken(recorded)  # by itself: the keyed checkpoint outside the database
    assert "BROKEN at position 15: the ledger ends at position 13, before the checkpoint" in err
    assert "13 event(s) before it verified" in err
    err = broken(recorded, "--anchor", head)  # an anchor kept by hand says the same
    assert "ends at position 13, before" in err
    assert rapport(recorded, "audit", "verify", "--anchor", "15:zz")[0] == 2


def test_an_anchor_names_the_break_at_its_own_position(recorded: Settings) -> None:
    _, out, _ = rapport(recorded, "audit", "verify")
    position = out.split("head ")[1].strip().split(":")[0]
    wrong = f"{position}:{'0' * 64}"
    err = broken(recorded, "--anchor", wrong)
    assert "BROKEN at position 15" in err and "differs from the anchor" in err
    assert "14 event(s) before it verified" in err  # the 15th is the one that broke


def rechain(tables: Tables, key: bytes | None = None) -> None:
    """What a tamperer who knows the (public) algorithm does after an edit: every link anew."""
    from infra.store.chain import GENESIS, ChainKey, SealedRow, links_for

    with tables.sql() as run:
        rows = run(f"SELECT {tables.position}, originator_id, originator_version, topic, state"
                   f" FROM {tables.events} ORDER BY {tables.position}")  # fmt: skip
        sealed = [
            SealedRow(r[0], r[1].hex if isinstance(r[1], UUID) else r[1], r[2], r[3], bytes(r[4]))
            for r in rows
        ]
        links = links_for(sealed, GENESIS, {}, ChainKey(key, 1) if key else None)
        run(f"DELETE FROM {tables.chain}")
        for link in links:
            cid = link.candidate_id if not tables.postgres else str(UUID(link.candidate_id))
            run(f"INSERT INTO {tables.chain} VALUES (?, ?, ?, ?, ?)", link.position, cid,
                link.version, link.candidate_link, link.ledger_link)  # fmt: skip


@pytest.mark.parametrize("key", [None, bytes(32)], ids=["plain", "wrong-key"])
def test_an_edit_chained_anew_is_caught_without_an_anchor(
    recorded: Settings, key: bytes | None
) -> None:
    tables = Tables(recorded)
    tables.edit_reply(8)
    rechain(tables, key)
    err = broken(recorded)
    assert "BROKEN at position 1: candidate C-1" in err and "chained anew without the key" in err
    assert "BROKEN" in broken(recorded, "C-2")


def test_a_cut_tail_chained_anew_is_caught(recorded: Settings) -> None:
    tables = Tables(recorded)
    tables.cut_tail(11, links=False)
    rechain(tables)
    assert "BROKEN at position 1" in broken(recorded)


def test_what_lies_outside_the_database_is_sealed(recorded: Settings) -> None:
    checkpoint = recorded.checkpoint_path
    document = orjson.loads(checkpoint.read_bytes())
    assert document["position"] == 15 and oct(checkpoint.stat().st_mode & 0o777) == "0o600"
    assert oct(recorded.chain_key_path.stat().st_mode & 0o777) == "0o600"
    if not recorded.database_url:
        assert oct(recorded.db.stat().st_mode & 0o777) == "0o600"  # it holds the keys
        with ViewStore(recorded) as views:
            assert views.path is not None
            assert oct(views.path.stat().st_mode & 0o777) == "0o600"
    checkpoint.write_bytes(orjson.dumps(document | {"position": 13}))
    assert "its seal does not match" in broken(recorded)
    checkpoint.unlink()
    assert "the checkpoint kept outside the database is missing" in broken(recorded)


def test_where_keyed_links_begin_cannot_be_moved_in_the_database(recorded: Settings) -> None:
    tables = Tables(recorded)
    keyed = f"{recorded.database_schema}.ledger_events_chain_keyed" if tables.postgres \
        else "ledger_chain_keyed"  # fmt: skip
    with tables.sql() as run:
        run(f"UPDATE {keyed} SET keyed_from = 99")
    assert "where keyed links begin was altered" in broken(recorded)


def test_without_its_key_a_keyed_ledger_refuses_writes_and_says_why(
    recorded: Settings, tmp_path: Path
) -> None:
    recorded.chain_key_path.rename(tmp_path / "elsewhere.key")
    code, _, err = rapport(recorded, "audit", "verify")
    assert code == 2 and "chain key is missing" in err
    line = write_jsonl(tmp_path / "more.jsonl", story("C-4"))
    code, _, err = rapport(recorded, "import", str(line))
    assert code == 4 and "cannot write to the ledger" in err and "chain key is missing" in err
    code, _, err = rapport(recorded, "erase", "C-1", "--reason", "data_subject_request")
    assert code == 4 and "chain key is missing" in err
    assert not recorded.chain_key_path.exists()  # not replaced by a new key behind its back


def test_an_older_ledger_keeps_its_plain_links_and_is_keyed_from_then_on(
    settings: Settings, tmp_path: Path
) -> None:
    """A ledger written before keys existed: plain links, no key, no checkpoint."""
    lines = story("C-1") + story("C-2")
    assert rapport(settings, "import", str(write_jsonl(tmp_path / "a.jsonl", lines)))[0] == 0
    tables = Tables(settings)
    keyed = f"{settings.database_schema}.ledger_events_chain_keyed" if tables.postgres \
        else "ledger_chain_keyed"  # fmt: skip
    with tables.sql() as run:
        run(f"DELETE FROM {keyed}")
    rechain(tables)  # the plain links an older Rapport wrote
    settings.chain_key_path.unlink()
    settings.checkpoint_path.unlink()
    code, out, _ = rapport(settings, "audit", "verify")  # opening it keys it from position 11
    assert code == 0 and "ledger intact: 10 event(s)" in out
    assert orjson.loads(settings.checkpoint_path.read_bytes())["keyed_from"] == 11
    assert rapport(settings, "import", str(write_jsonl(tmp_path / "b.jsonl", story("C-3"))))[0] == 0
    assert rapport(settings, "audit", "verify")[0] == 0
    # The plain prefix can no longer be chained anew: the first keyed link commits to it.
    tables.edit_reply(3)
    with tables.sql() as run:
        rows = run(f"SELECT position, candidate_link, ledger_link FROM {tables.chain}"
                   " WHERE position > 10 ORDER BY position")  # fmt: skip
    rechain(tables)  # plain everywhere: the keyed links are gone
    assert "BROKEN" in broken(settings)
    assert rows  # the keyed links existed before the tamperer replaced them


def test_an_erasure_keeps_the_chains_intact(recorded: Settings) -> None:
    assert rapport(recorded, "erase", "C-2", "--reason", "data_subject_request")[0] == 0
    code, out, _ = rapport(recorded, "audit", "verify")
    assert code == 0 and "ledger intact: 16 event(s), 3 candidate(s)" in out
    assert rapport(recorded, "audit", "verify", "C-2")[0] == 0


def test_a_checkpoint_file_rolled_back_with_a_cut_tail_is_caught_by_the_topic_copy(
    stream_settings: Settings, tmp_path: Path
) -> None:
    """Whoever can write the ledger's host can put back an older (validly sealed) checkpoint
    file after cutting the tail; the copy the relay published to Kafka still says otherwise."""
    from consumers.relay import Relay
    from infra.store.ledger import Ledger

    settings = stream_settings
    env = stream_env(settings)
    first = write_jsonl(tmp_path / "a.jsonl", story("C-1") + story("C-2"))
    assert runner.invoke(app, ["import", str(first)], env=env).exit_code == 0
    older = settings.checkpoint_path.read_bytes()  # position 10, kept by the tamperer
    more = write_jsonl(tmp_path / "b.jsonl", story("C-3"))
    assert runner.invoke(app, ["import", str(more)], env=env).exit_code == 0

    def relay_caught_up() -> None:
        ledger = Ledger(settings)
        try:
            with Relay.connect(settings, ledger.ledger_recorder) as relay:
                relay.run(until_caught_up=True)
        finally:
            ledger.close()

    relay_caught_up()
    verified = runner.invoke(app, ["audit", "verify", "--kafka"], env=env)
    assert verified.exit_code == 0, verified.output
    from jsonschema import Draft202012Validator

    from infra.streaming.messages import message_schemas
    from infra.streaming.topics import Topics

    (published,) = read_topic(settings, Topics.of(settings).checkpoints)  # compacted: the last
    document = orjson.loads(published.value)
    assert document["position"] == 15 and published.key.startswith(b"ledger-")
    Draft202012Validator(message_schemas()["checkpoints.v1.schema.json"]).validate(document)
    tables = Tables(settings)
    tables.cut_tail(11)
    settings.checkpoint_path.write_bytes(older)
    assert runner.invoke(app, ["audit", "verify"], env=env).exit_code == 0  # the file is fooled
    caught = runner.invoke(app, ["audit", "verify", "--kafka"], env=env)
    assert caught.exit_code == 5, caught.output
    assert "before the checkpoint on Kafka (position 15): its tail was cut off" in caught.stderr


def test_a_cut_tail_is_caught_even_after_the_ledger_was_written_on(
    recorded: Settings, tmp_path: Path
) -> None:
    """Cut, then a new import: the checkpoint does not move past what it vouched for (on
    PostgreSQL the positions go on from the sequence, leaving the cut as a gap)."""
    tables = Tables(recorded)
    tables.cut_tail(11)
    more = write_jsonl(tmp_path / "more.jsonl", story("C-4") + story("C-5"))
    assert rapport(recorded, "import", str(more))[0] == 0
    assert orjson.loads(recorded.checkpoint_path.read_bytes())["position"] == 15  # kept
    err = broken(recorded)
    assert "the checkpoint in" in err and ("no event at position 15" in err or "differs" in err)

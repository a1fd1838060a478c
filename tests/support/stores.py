"""A fresh, empty ledger on either store: for the ``settings`` fixture, and for tests that need
many (one per hypothesis example), where a fixture gives one per test."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from infra.core.settings import Settings
from infra.read.views import views_path
from tests.support.environment import POSTGRES_URL


@contextmanager
def fresh_postgres(folder: Path) -> Iterator[Settings]:
    """A schema of its own on the test server (fails under CI when there is none), dropped
    afterwards with those of its consumer groups' views (``<schema>_<group>``); the chain's key
    and checkpoint live outside the database, in ``folder``."""
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("RAPPORT_TEST_DATABASE_URL is not set: run the suite with `make test`")
        pytest.skip("no PostgreSQL: run `make test` to start one")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield Settings(
            database_url=POSTGRES_URL,
            database_schema=schema,
            chain_key_file=folder / f"{schema}.chain.key",
            checkpoint_file=folder / f"{schema}.checkpoint.json",
        )
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            found = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{schema}%",)
            ).fetchall()
            for (name,) in found:
                conn.execute(f"DROP SCHEMA {name} CASCADE")


@contextmanager
def fresh_settings(kind: str) -> Iterator[Settings]:
    """``kind`` is ``sqlite`` (a temporary folder) or ``postgres`` (``fresh_postgres``)."""
    with tempfile.TemporaryDirectory() as folder:
        if kind == "sqlite":
            yield Settings(db=Path(folder) / "rapport.db")
            return
        with fresh_postgres(Path(folder)) as settings:
            yield settings


def staged_tables(settings: Settings) -> list[str]:
    """Tables a bulk build is filling (``<table>__next``) in the views these settings name,
    read straight from the database (the ledger's views, or a group's)."""
    if settings.database_url:
        schema = settings.views_schema or settings.database_schema
        with psycopg.connect(settings.database_url) as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
                " AND table_name LIKE %s",
                (schema, r"%\_\_next"),
            ).fetchall()
        return [row[0] for row in rows]
    try:
        with sqlite3.connect(settings.views_db or views_path(settings.db), timeout=5) as conn:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name LIKE '%\\_\\_next' ESCAPE '\\'"
            ).fetchall()
    except sqlite3.OperationalError:
        return []
    return [row[0] for row in rows]

"""A fresh, empty ledger on either store, for tests that need many (one per hypothesis example),
where a pytest fixture gives one per test."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from infra.core.settings import Settings
from tests.support.environment import POSTGRES_URL


@contextmanager
def fresh_settings(kind: str) -> Iterator[Settings]:
    """``kind`` is ``sqlite`` (a temporary folder) or ``postgres`` (a schema of its own on the
    test server, dropped afterwards)."""
    with tempfile.TemporaryDirectory() as folder:
        if kind == "sqlite":
            yield Settings(db=Path(folder) / "rapport.db")
            return
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
                chain_key_file=Path(folder) / "chain.key",
                checkpoint_file=Path(folder) / "checkpoint.json",
            )
        finally:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")

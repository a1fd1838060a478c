"""A bulk rebuild's statements computed ahead (``infra.read.bulk.StatementsAhead``): rows in
the order planned, a statement read out of turn refused at once rather than waiting forever,
and no thread or cursor left behind."""

from __future__ import annotations

import threading

import duckdb
import pytest

from infra.read.bulk import StatementsAhead


def test_planned_statements_are_read_in_order_and_out_of_turn_is_refused() -> None:
    db = duckdb.connect()
    threads = threading.active_count()
    ahead = StatementsAhead(db)
    try:
        statements = [f"SELECT {n} * x FROM range(3) t(x)" for n in (1, 2, 3, 4)]
        ahead.plan(statements)
        assert list(ahead.rows(statements[0])) == [(0,), (1,), (2,)]
        with pytest.raises(RuntimeError, match="order they were planned"):
            list(ahead.rows(statements[2]))
        assert list(ahead.rows(statements[1])) == [(0,), (2,), (4,)]
        assert list(ahead.rows("SELECT 42")) == [(42,)]  # not planned: computed at once
    finally:
        ahead.close()  # the last two planned, never read: their cursors are closed
        db.close()
    assert threading.active_count() == threads

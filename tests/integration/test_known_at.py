"""What the report said at an instant: ``--known-at`` ignores the events recorded after it.

A generated history is delivered in two imports: the first, on 2 August, holds what had happened
by then except some replies, calls and outreach held back; the second, on 2 November, holds the
rest, the held-back facts back-dated into the past (a restatement). The report known at 1
September must be the report of a ledger that only ever received the first import, and the
count of the first import's lines.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from infra.cli.app import app as rapport
from infra.core.settings import Settings
from infra.intake.importing import read_touchpoints
from infra.read.alerts import open_alerts
from infra.read.comparison import compare
from infra.read.known_at import views_known_at
from infra.read.metrics import (
    BASES,
    Selection,
    candidate_experience,
    engagement_report,
    funnel,
)
from infra.read.read_side import current_views
from infra.read.views import ViewStore
from infra.store.ledger import Ledger
from infra.synthetic.generator import write_jsonl
from tests.integration.test_engagement_metrics import oracle_engagement
from tests.support.files import store_env
from tests.support.stores import fresh_settings

FIRST = datetime(2026, 8, 2, tzinfo=UTC)
SECOND = datetime(2026, 11, 2, tzinfo=UTC)
KNOWN_AT = datetime(2026, 9, 1, tzinfo=UTC).timestamp()
EARLIER = datetime(2026, 7, 1, tzinfo=UTC).timestamp()
HELD_BACK = {"reply_received", "call_held", "outreach_sent"}


def _deliveries(tmp_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    path = tmp_path / "history.jsonl"
    write_jsonl(path, candidates=700, seed=7)
    lines = [orjson.loads(raw) for raw in path.read_bytes().splitlines() if raw]
    draw = random.Random(7)
    # Nothing is recorded about a candidate after their erasure: theirs are not held back.
    erased = {line.get("candidate") for line in lines if line["type"] == "erasure_requested"}
    first, second = [], []
    for line in lines:
        happened = datetime.fromisoformat(line["occurred_at"])
        held = line["type"] in HELD_BACK and line.get("candidate") not in erased
        late = happened > FIRST or (held and draw.random() < 0.15)
        (second if late else first).append(line)
    return first, second


def _import(settings: Settings, lines: list[dict[str, Any]], at: datetime, folder: Path) -> None:
    path = folder / f"delivery-{at:%m%d}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    touchpoints, errors = read_touchpoints(path)
    assert errors == []
    ledger = Ledger(settings, clock=lambda: at)
    try:
        ledger.write(ledger.decide(touchpoints))
    finally:
        ledger.close()


@contextmanager
def _views(settings: Settings) -> Iterator[ViewStore]:
    with current_views(settings) as store:
        yield store


def _everything(store: ViewStore, as_of: float) -> dict[str, Any]:
    """Every report the option reaches, as plain values."""
    return {
        "engagement": {
            basis: [
                s.as_dict()
                for s in engagement_report(
                    store, ["status", "personalization"], as_of, 30, Selection(basis)
                )
            ]
            for basis in BASES
        },
        "compare": [c.as_dict() for c in compare(store, "personalization", as_of=as_of)],
        "funnel": [s.as_dict() for s in funnel(store, as_of)],
        "experience": candidate_experience(store, as_of).as_dict(),
        "alerts": [a.as_record() for a in open_alerts(store, as_of)],
    }


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_the_report_known_at_an_instant_is_the_ledger_cut_there(kind: str, tmp_path: Path) -> None:
    first, second = _deliveries(tmp_path)
    back_dated = [line for line in second if datetime.fromisoformat(line["occurred_at"]) <= FIRST]
    assert len(back_dated) > 100  # the second import restates the past
    with fresh_settings(kind) as whole, fresh_settings(kind) as cut:
        _import(whole, first, FIRST, tmp_path)
        _import(whole, second, SECOND, tmp_path)
        _import(cut, first, FIRST, tmp_path)
        with _views(cut) as store:
            expected = _everything(store, KNOWN_AT)
            earlier = _everything(store, EARLIER)
        with _views(whole) as store:
            today = _everything(store, KNOWN_AT)
            with views_known_at(whole, store, KNOWN_AT) as known:
                assert _everything(known, KNOWN_AT) == expected
            # Known at the first import's own instant, and as of an earlier date, too.
            with views_known_at(whole, store, FIRST.timestamp()) as known:
                assert _everything(known, EARLIER) == earlier
        # The back-dated facts changed what the ledger says today about that date.
        assert today["engagement"] != expected["engagement"]

        # The first import's lines, counted straight (settled: as the report counts).
        for basis in BASES:
            oracle, _ = oracle_engagement(_dated(first), KNOWN_AT, settled=basis == "settled")
            got = {
                (s["status"], s["personalization"]): (
                    s["outreach"], s["response"]["successes"], s["engagement"]["successes"],
                    s["pending"],
                )
                for s in expected["engagement"][basis]
            }  # fmt: skip
            assert got == oracle

        # The command line: --known-at, --as-of defaulting to it, on both commands.
        runner = CliRunner()

        def run(settings: Settings, *args: str) -> Any:
            result = runner.invoke(rapport, list(args), env=store_env(settings))
            assert result.exit_code == 0, result.stderr
            return orjson.loads(result.stdout)

        known = run(whole, "metrics", "--known-at", "2026-09-01T00:00:00+00:00", "--format", "json")
        plain = run(cut, "metrics", "--as-of", "2026-09-01T00:00:00+00:00", "--format", "json")
        assert known["known_at"] == "2026-09-01T00:00:00+00:00" and plain["known_at"] is None
        assert known["as_of"] == plain["as_of"]
        for key in ("segments", "funnel", "candidate_experience", "pending"):
            assert known[key] == plain[key], key
        alerts = run(whole, "alerts", "--known-at", "2026-09-01T00:00:00+00:00",
                     "--format", "json")  # fmt: skip
        assert alerts == run(cut, "alerts", "--as-of", "2026-09-01T00:00:00+00:00",
                             "--format", "json")  # fmt: skip
        compared = run(whole, "compare", "--by", "personalization", "--known-at",
                       "2026-09-01T00:00:00+00:00", "--format", "json")  # fmt: skip
        assert compared["comparisons"] == expected["compare"]
        bad = runner.invoke(rapport, ["metrics", "--known-at", "soon"], env=store_env(whole))
        assert bad.exit_code == 2 and "--known-at" in bad.stderr


def _dated(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines as the oracle reads them (their instant in ``t``), touchpoints only."""
    found = [dict(line) for line in lines if "candidate" in line]
    for line in found:
        line["t"] = datetime.fromisoformat(line["occurred_at"]).timestamp()
    return found

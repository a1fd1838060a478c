"""Does the pool pay off: every figure of ``rapport payoff`` on a story whose answers are
counted by hand, now and as of a past date, on both stores, from the views and from the
command line alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from typer.testing import CliRunner

from infra.cli.app import app
from infra.core.settings import Settings
from infra.read.follower import Follower
from infra.read.matches import pool_as_of
from infra.read.payoff import Payoff, payoff_report, position_lines
from infra.read.read_side import all_projections
from infra.read.views import ViewStore
from infra.store.ledger import Ledger
from tests.support.builders import at, pf, tp
from tests.support.files import record_lines, store_env

runner = CliRunner()


def _day(days: float) -> float:
    return datetime.fromisoformat(at(days=days)).timestamp()


def _story() -> list[Any]:
    """Two positions opened (REQ-A on day 0, REQ-B on day 10) and one never opened (REQ-C)."""
    pool = {"source": "pool_match"}
    facts = [
        pf("position_opened", "REQ-A", at(0)),
        pf("position_opened", "REQ-B", at(10)),
        # C-1: a pool member, reached warm (outreach after joining, engaged), picked from a match
        tp("candidate_registered", "C-1", at(-30)),
        tp("consent_given", "C-1", at(-30), basis="explicit_consent"),
        tp("added_to_talent_pool", "C-1", at(-20)),
        tp("outreach_sent", "C-1", at(-15)),
        tp("reply_received", "C-1", at(-14)),
        tp("content_shared", "C-1", at(-5)),
        tp("reply_received", "C-1", at(-2), sentiment="not_interested"),
        tp("shortlisted", "C-1", at(4), position="REQ-A", match_rank=1, match_score=80.0, **pool),
        tp("interview_scheduled", "C-1", at(8), position="REQ-A"),
        tp("offer_extended", "C-1", at(15), position="REQ-A"),
        tp("offer_accepted", "C-1", at(16), position="REQ-A"),
        tp("hired", "C-1", at(20), position="REQ-A"),
        # C-2: cold outreach that went unanswered, then sourced for REQ-A
        tp("candidate_registered", "C-2", at(-30)),
        tp("outreach_sent", "C-2", at(-10)),
        tp("shortlisted", "C-2", at(10), position="REQ-A", source="sourced"),
        tp("interview_scheduled", "C-2", at(12), position="REQ-A"),
        # C-3: in the pool, shared content that went unanswered, picked for REQ-B
        tp("candidate_registered", "C-3", at(-40)),
        tp("added_to_talent_pool", "C-3", at(-25)),
        tp("content_shared", "C-3", at(1)),
        tp("shortlisted", "C-3", at(12), position="REQ-B", match_rank=2, match_score=70.0, **pool),
        # C-4: shortlisted for a position Rapport never saw opened (old data, nothing said)
        tp("candidate_registered", "C-4", at(-30)),
        tp("shortlisted", "C-4", at(5), position="REQ-C"),
        # C-5: in the pool since day -200, never touched (cold, overdue)
        tp("candidate_registered", "C-5", at(-300)),
        tp("added_to_talent_pool", "C-5", at(-200)),
        # C-6: in the pool, last touched on day -120 (cooling, overdue)
        tp("candidate_registered", "C-6", at(-300)),
        tp("added_to_talent_pool", "C-6", at(-150)),
        tp("personal_note_sent", "C-6", at(-120)),
    ]
    return list(enumerate(facts, start=1))


def _report(settings: Settings, as_of: float) -> Payoff:
    with Ledger(settings) as ledger, ViewStore(settings, ledger=ledger.ledger_recorder) as store:
        Follower(ledger.ledger_recorder, store, all_projections()).catch_up()
        with pool_as_of(ledger.ledger_recorder, as_of) as pool:
            return payoff_report(store, pool, as_of=as_of)


def _figures(report: Payoff) -> dict[str, Any]:
    (overall,) = report.hiring
    return {
        "audience": {
            s.values["audience"]: (s.outreach, s.engagement.successes, s.pending)
            for s in report.audience
        },
        "content": (report.content.successes, report.content.n, report.content_pending),
        "from_pool": {step: (r.successes, r.n) for step, r in overall.from_pool.items()},
        "to_shortlist": {o: (d.positions, d.median) for o, d in overall.to_first_shortlist.items()},
        "to_hire": {o: (d.positions, d.median) for o, d in overall.to_hire.items()},
        "positions": (report.positions, report.unopened),
        "health": (report.health.members, report.health.bands, report.health.overdue),
    }


def test_every_payoff_figure_counted_by_hand(settings: Settings) -> None:
    record_lines(settings, _story())
    assert _figures(_report(settings, _day(31))) == {
        "audience": {"pool": (1, 1, 0), "cold": (1, 0, 0)},
        # C-1's content was answered (a reply, even a "no"), C-3's was not (its window closes
        # on day 31: settled now)
        "content": (1, 2, 0),
        "from_pool": {"shortlisted": (2, 4), "interviewing": (1, 2), "hired": (1, 1)},
        "to_shortlist": {"pool": (2, 3.0), "other": (1, 10.0)},  # REQ-A 4 days, REQ-B 2
        "to_hire": {"pool": (1, 20.0), "other": (0, None)},
        "positions": (2, 1),
        "health": (4, {"warm": 2, "cooling": 1, "cold": 1}, 2),
    }
    # As of day 9: REQ-B not opened yet, nobody hired, C-2 and C-3 not shortlisted yet; every
    # outreach and content's window still open (pending, not counted)
    assert _figures(_report(settings, _day(9))) == {
        "audience": {"pool": (0, 0, 1), "cold": (0, 0, 1)},
        "content": (0, 0, 2),
        "from_pool": {"shortlisted": (1, 2), "interviewing": (1, 1), "hired": (0, 0)},
        "to_shortlist": {"pool": (1, 4.0), "other": (0, None)},
        "to_hire": {"pool": (0, None), "other": (0, None)},
        "positions": (1, 1),
        "health": (4, {"warm": 2, "cooling": 1, "cold": 1}, 2),
    }


def test_positions_list_their_funnels_and_the_command_agrees(settings: Settings) -> None:
    record_lines(settings, _story())
    with Ledger(settings) as ledger, ViewStore(settings, ledger=ledger.ledger_recorder) as store:
        Follower(ledger.ledger_recorder, store, all_projections()).catch_up()
        lines = position_lines(store, _day(30))
    assert [(p.requisition, p.status, p.reached) for p in lines] == [
        ("REQ-A", "open", {"shortlisted": (2, 1), "interviewing": (2, 1), "hired": (1, 1)}),
        ("REQ-B", "open", {"shortlisted": (1, 1), "interviewing": (0, 0), "hired": (0, 0)}),
    ]
    assert lines[0].days_open(_day(30)) == 30.0
    env = store_env(settings)
    as_of = at(30)
    shown = runner.invoke(
        app, ["positions", "--status", "all", "--as-of", as_of, "--format", "json"], env=env
    )
    assert shown.exit_code == 0, shown.output
    assert orjson.loads(shown.stdout) == [line.as_dict(_day(30)) for line in lines]
    paid = runner.invoke(app, ["payoff", "--as-of", as_of, "--format", "json"], env=env)
    assert paid.exit_code == 0, paid.output
    document = orjson.loads(paid.stdout)
    assert document == orjson.loads(orjson.dumps(_report(settings, _day(30)).as_dict()))
    assert document["hiring"][0]["days_to_first_shortlist"]["pool"]["median_days"] == 3.0
    wrong = runner.invoke(app, ["payoff", "--by", "colour"], env=env)
    assert wrong.exit_code == 2
    assert "--by" in wrong.output and "role, recruiter, client" in wrong.output


def test_a_breakdown_by_the_positions_role(settings: Settings) -> None:
    record_lines(settings, _story())
    with Ledger(settings) as ledger, ViewStore(settings, ledger=ledger.ledger_recorder) as store:
        Follower(ledger.ledger_recorder, store, all_projections()).catch_up()
        segments = payoff_report(store, store, as_of=_day(30), by=["role"]).hiring
    # REQ-C was never opened: its step has no role
    assert [(s.values, s.from_pool["shortlisted"].n) for s in segments] == [
        ({"role": None}, 1),
        ({"role": "cra"}, 3),
    ]

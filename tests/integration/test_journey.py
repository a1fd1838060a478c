"""A candidate's journey: the timeline by when things happened, the stage, the last touches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from typer.testing import CliRunner

from infra.cli.app import app
from infra.core.settings import Settings
from infra.read.journeys import journey
from infra.read.read_side import current_views, parse_as_of
from infra.store.ledger import Ledger
from tests.support.builders import NOW, at, tp
from tests.support.files import store_env

runner = CliRunner()


def record(settings: Settings, *touchpoints: object, clock: datetime | None = NOW) -> None:
    ledger = Ledger(settings, clock=lambda: clock or datetime.now(UTC))
    try:
        for touchpoint in touchpoints:
            ledger.record(touchpoint)  # type: ignore[arg-type]
    finally:
        ledger.close()


def test_a_journey_moves_forward_with_the_hiring_process(settings: Settings) -> None:
    record(
        settings,
        tp("candidate_registered"),
        tp("outreach_sent", when=at(1)),
        tp("reply_received", when=at(2), sentiment="interested"),
        tp("application_submitted", when=at(3)),
        tp("application_acknowledged", when=at(3, hours=1)),
        tp("shortlisted", when=at(5)),
        tp("interview_scheduled", when=at(6)),
        tp("offer_extended", when=at(9)),
        tp("offer_accepted", when=at(10)),
        tp("hired", when=at(11)),
    )
    with current_views(settings) as store:
        assert journey(store, "C-1").stage == "hired"
        assert journey(store, "C-1", as_of=parse_as_of(at(0.5))).stage == "sourced"
        assert journey(store, "C-1", as_of=parse_as_of(at(2.5))).stage == "engaged"
        assert journey(store, "C-1", as_of=parse_as_of(at(7))).stage == "interviewing"
        found = journey(store, "C-1")
    assert [s.type for s in found.steps][:3] == [
        "candidate_registered",
        "outreach_sent",
        "reply_received",
    ]
    assert found.last_personal_touch is not None
    assert found.last_personal_touch.type == "hired"
    assert found.last_touch is not None and found.last_touch.type == "hired"


def test_the_timeline_is_ordered_by_when_things_happened(settings: Settings) -> None:
    record(
        settings,
        tp("candidate_registered"),
        tp("reply_received", when=at(5), sentiment="not_interested"),
        tp("outreach_sent", when=at(2)),  # recorded later, happened earlier
    )
    with current_views(settings) as store:
        found = journey(store, "C-1")
    assert [s.type for s in found.steps] == [
        "candidate_registered",
        "outreach_sent",
        "reply_received",
    ]
    assert found.steps[1].position > found.steps[2].position
    assert found.stage == "contacted"  # a "not interested" reply is not engagement


def test_only_an_automated_acknowledgement_is_not_a_personal_touch(settings: Settings) -> None:
    record(
        settings,
        tp("candidate_registered"),
        tp("application_submitted", when=at(1)),
        tp("application_acknowledged", when=at(1, hours=1)),
    )
    with current_views(settings) as store:
        found = journey(store, "C-1")
    assert found.stage == "applied"
    assert found.last_personal_touch is None
    assert found.last_touch is not None and found.last_touch.by_whom == "automation"


def test_journeys_stop_at_decline_opt_out_and_erasure(settings: Settings) -> None:
    record(
        settings,
        tp("candidate_registered"),
        tp("application_submitted", when=at(1)),
        tp("interview_scheduled", when=at(2)),
        tp("offer_extended", when=at(3)),
        tp("offer_declined", when=at(4)),
        tp("candidate_registered", candidate="C-2"),
        tp("opted_out", candidate="C-2", when=at(1)),
        tp("candidate_registered", candidate="C-3"),
        tp("erasure_requested", candidate="C-3", when=at(1)),
    )
    with current_views(settings) as store:
        assert journey(store, "C-1").stage == "declined"
        assert journey(store, "C-2").stage == "opted out"
        assert journey(store, "C-3").stage == "erased"


def test_the_journey_command(settings: Settings) -> None:
    record(settings, tp("candidate_registered"), tp("outreach_sent", when=at(1)))
    shown = runner.invoke(app, ["journey", "C-1"], env=store_env(settings))
    assert shown.exit_code == 0, shown.stderr
    assert "stage contacted" in shown.stdout
    assert "outreach_sent" in shown.stdout
    assert "Ada Okafor" not in shown.stdout  # the timeline carries no personal data
    unknown = runner.invoke(app, ["journey", "C-404"], env=store_env(settings))
    assert unknown.exit_code == 3
    assert "candidate C-404 is not registered" in unknown.stderr
    bad = runner.invoke(app, ["journey", "C-1", "--as-of", "yesterday"], env=store_env(settings))
    assert bad.exit_code == 2
    assert "--as-of" in bad.stderr


def test_as_of_a_day_means_the_end_of_that_day() -> None:
    assert parse_as_of("2026-05-01") == parse_as_of("2026-05-01T23:59:59.999999+00:00")


def test_without_an_as_of_the_journey_stands_now_and_speaks_iso(settings: Settings) -> None:
    """A deadline still ahead is not "overdue" because no date was given (it was, once)."""
    soon = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    record(
        settings,
        tp("candidate_registered", when=(soon - timedelta(days=1)).isoformat()),
        tp("added_to_talent_pool", when=soon.isoformat()),
        clock=None,
    )
    with current_views(settings) as store:
        found = journey(store, "C-1")
    assert found.next_due is not None and not found.next_due.overdue
    document = found.as_dict()
    due = document["next_due"]
    assert (due["rule"], due["overdue"]) == ("talent_pool_without_personal_touch", False)
    assert datetime.fromisoformat(due["due_at"]) == soon + timedelta(90)
    assert due["text"].startswith("talent-pool member without a personal touch: due ")
    for step in document["steps"]:
        assert datetime.fromisoformat(step["occurred_at"]).tzinfo is not None
        assert datetime.fromisoformat(step["recorded_at"]).tzinfo is not None
    shown = runner.invoke(app, ["journey", "C-1", "--format", "json"], env=store_env(settings))
    assert shown.exit_code == 0, shown.stderr
    assert orjson.loads(shown.stdout)["next_due"]["overdue"] is False


def test_an_erasure_is_done_by_compliance_in_the_journey_as_in_the_audit(
    settings: Settings,
) -> None:
    record(
        settings,
        tp("candidate_registered"),
        tp("erasure_requested", when=at(1), requested_by="dpo-1"),
    )
    with current_views(settings) as store:
        found = journey(store, "C-1")
    assert [(s.type, s.by_whom) for s in found.steps] == [
        ("candidate_registered", "crm"), ("erasure_requested", "compliance"),
    ]  # fmt: skip
    history = runner.invoke(app, ["audit", "export", "C-1"], env=store_env(settings))
    assert history.exit_code == 0, history.stderr
    rows = orjson.loads(history.stdout)["touchpoints"]
    assert [(r["type"], r["actor"], r["by"]) for r in rows] == [
        ("candidate_registered", "crm", None), ("erasure_requested", "compliance", "dpo-1"),
    ]  # fmt: skip

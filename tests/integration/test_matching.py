"""Matching a position against the pool, on both stores: the hard filters hold whatever the
history's order (checked against an oracle that reads the recorded touchpoints directly),
every score is the sum of its terms, a match as of a past date is what the ledger cut at that
date says now, and the weights come from a file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from domain.policy import ContactPolicy
from infra.cli.app import app
from infra.core.settings import Settings
from infra.read.follower import Follower
from infra.read.matches import MatchList, match_position
from infra.read.read_side import all_projections
from infra.read.views import ViewStore
from infra.store.ledger import Ledger, Line
from projections.matching import DAY, Weights
from tests.support.builders import at, pf, tp
from tests.support.drawn_histories import DRAWN_EVENT, deliveries, record_accepted
from tests.support.files import history, record_lines, store_env
from tests.support.stores import fresh_settings

runner = CliRunner()
NOW = datetime.fromisoformat(at(days=130)).timestamp()
"""After every drawn touchpoint (days 0 to 120): the instant the matches are asked for."""
WEIGHTS = Weights()


def _matches(settings: Settings, requisition: str, **options: Any) -> MatchList:
    with Ledger(settings) as ledger, ViewStore(settings, ledger=ledger.ledger_recorder) as store:
        Follower(ledger.ledger_recorder, store, all_projections()).catch_up()
        return match_position(
            store, ledger.ledger_recorder, requisition,
            **{"now": NOW, "as_of": None, "weights": WEIGHTS, "policy": ContactPolicy(),
               "limit": 500} | options,
        )  # fmt: skip


def _recorded(settings: Settings) -> list[tuple[int, Any]]:
    """Every recorded touchpoint with its ledger position."""
    with Ledger(settings) as ledger:
        return [
            (n, event.touchpoint)
            for n, event in enumerate(ledger.history(), start=1)
            if hasattr(event, "touchpoint")
        ]


PROCESS_TYPES = (
    "application_submitted", "application_acknowledged", "shortlisted", "interview_scheduled",
    "offer_extended", "offer_accepted", "offer_declined", "hired",
)  # fmt: skip
"""The hiring process's steps, written out again here (an outreach or a dismissal naming a
position is not one)."""


def _eligible(recorded: list[tuple[int, Any]], requisition: str, include_past: bool) -> set[str]:
    """Who may be listed, read from the touchpoints themselves (the oracle): registered, not
    erased, consent given as the latest word, in a pool (or a silver medallist, when asked),
    not hired within the limit, in no process for this position and no live one elsewhere, not
    dismissed for this position."""
    by_candidate: dict[str, list[tuple[int, Any]]] = {}
    for position, touchpoint in recorded:
        by_candidate.setdefault(touchpoint.candidate, []).append((position, touchpoint))
    eligible = set()
    for candidate, facts in by_candidate.items():
        facts.sort(key=lambda pair: (pair[1].occurred_at, pair[0]))
        kinds = [t.type for _, t in facts]
        if "erasure_requested" in kinds:
            continue
        consent = [t.type for _, t in facts if t.type in ("consent_given", "opted_out")]
        if not consent or consent[-1] != "consent_given":
            continue
        pools: dict[str, bool] = {}
        stages: dict[str, tuple[float, str]] = {}
        silver: set[str] = set()
        hired_at = None
        for _, t in facts:
            if t.type in ("added_to_talent_pool", "removed_from_talent_pool"):
                pools[t.pool] = t.type == "added_to_talent_pool"
            position = getattr(t, "position", None)
            if position is not None and t.type in PROCESS_TYPES:
                stages[position] = (t.occurred_at.timestamp(), t.type)
                if t.type in ("shortlisted", "interview_scheduled", "offer_extended",
                              "offer_accepted"):  # fmt: skip
                    silver.add(position)
            if t.type == "hired":
                hired_at = t.occurred_at.timestamp()
        silver -= {p for p, (_, kind) in stages.items() if kind == "hired"}
        if not (any(pools.values()) or (include_past and silver)):
            continue
        if hired_at is not None and hired_at >= NOW - WEIGHTS.hired_within_days * DAY:
            continue
        if requisition in stages:
            continue
        if any(t.type == "match_dismissed" and t.position == requisition for _, t in facts):
            continue
        live = [
            p for p, (moment, kind) in stages.items()
            if kind not in ("hired", "offer_declined")
            and moment >= NOW - WEIGHTS.process_days * DAY
        ]  # fmt: skip
        if live:
            continue
        eligible.add(candidate)
    return eligible


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@hypothesis_settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@example(  # a dismissal for another position on the last day a process would count as live
    events=[(0, "outreach_sent", 30, 0, 0), (1, "match_dismissed", 70, 0, 0)],
    include_past=False,
    requisition="REQ-M",
)
@given(
    events=st.lists(DRAWN_EVENT, min_size=1, max_size=60),
    include_past=st.booleans(),
    requisition=st.sampled_from(["REQ-0", "REQ-M"]),
)
def test_a_match_lists_exactly_who_may_be_approached_and_each_score_adds_up(
    kind: str, events: list[tuple[int, str, int, int, int]], include_past: bool, requisition: str
) -> None:
    """Drawn histories delivered in several imports (back-dated, shuffled, opted out, erased,
    hired): the list holds exactly the candidates the oracle finds eligible."""
    with fresh_settings(kind) as settings:
        opening = pf("position_opened", position=requisition, when=at(days=-1), country=None,
                     remote=True, therapeutic_areas=["oncology"])  # fmt: skip
        record_lines(settings, [(0, opening)])
        for lines in deliveries(events):
            record_accepted(settings, lines)
        candidates = sorted({event[0] for event in events})
        consents = [
            (n, tp("consent_given", f"C-{c}", at(days=1))) for n, c in enumerate(candidates)
        ]
        joins = [
            (len(candidates) + n, tp("added_to_talent_pool", f"C-{c}", at(days=2)))
            for n, c in enumerate(candidates)
            if c % 3
        ]
        # everyone consents on day 1, most join a pool on day 2 (later facts may undo either)
        record_accepted(settings, consents + joins)
        found = _matches(settings, requisition, include_past=include_past)
        listed = [m.candidate for m in found.matches]
        assert len(listed) == len(set(listed))
        assert set(listed) == _eligible(_recorded(settings), requisition, include_past)
        for match in found.matches:
            assert round(sum(t.points for t in match.terms) * 100) == round(match.score * 100)
            assert match.terms[0].name == "role"
        scores = [m.score for m in found.matches]
        assert scores == sorted(scores, reverse=True)
        event("listed" if listed else "nobody listed")


def _cut(lines: list[Line], moment: datetime) -> list[Line]:
    return [(n, fact) for n, fact in lines if fact.occurred_at <= moment]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_match_as_of_a_date_is_what_the_ledger_cut_there_says(kind: str, tmp_path: Path) -> None:
    lines = history(300, seed=21, folder=tmp_path)
    positions = [
        (len(lines) + 1, pf("position_opened", position="REQ-P", when="2025-06-01T09:00:00Z",
                            therapeutic_areas=["oncology", "neurology"], country="US")),
        (len(lines) + 2, pf("position_updated", position="REQ-P", when="2025-09-01T09:00:00Z",
                            min_years=1, required_certifications=[])),
    ]  # fmt: skip
    moments = [datetime(2025, 8, 1, tzinfo=UTC), datetime(2025, 11, 15, tzinfo=UTC)]
    with fresh_settings(kind) as whole:
        record_lines(whole, lines + positions)
        recorded = [(n, t) for n, t in _recorded(whole)]
        for moment in moments:
            as_of = moment.timestamp()
            past = _matches(whole, "REQ-P", as_of=as_of, include_past=True, limit=60)
            with fresh_settings(kind) as cut:
                # a touchpoint before its candidate's registration waits for it: refused here
                record_accepted(cut, _cut(recorded, moment) + _cut(positions, moment))
                then = _matches(cut, "REQ-P", now=as_of, include_past=True, limit=60)
            assert past.matches, "the moment has matches to compare"
            assert past.as_record() == then.as_record()
    assert moments  # the update (min_years 1) lies between the two moments


def test_the_weights_come_from_a_file_and_a_bad_one_is_named(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "rapport.db")
    record_lines(settings, history(150, seed=4, folder=tmp_path))
    record_lines(settings, [(0, pf("position_opened", position="REQ-W", remote=True))])
    env = store_env(settings)
    plain = runner.invoke(app, ["match", "REQ-W", "--format", "json", "--limit", "5"], env=env)
    assert plain.exit_code == 0, plain.output
    weights = tmp_path / "match.toml"
    weights.write_text("[weights]\nrole = 0\nengagement = 40\n")
    heavy = runner.invoke(
        app, ["match", "REQ-W", "--format", "json", "--limit", "5"],
        env=env | {"RAPPORT_MATCH_WEIGHTS": str(weights)},
    )  # fmt: skip
    assert heavy.exit_code == 0, heavy.output
    first = orjson.loads(heavy.stdout)["matches"][0]
    terms = {t["term"]: t["points"] for t in first["terms"]}
    assert terms["role"] == 0 and terms["engagement"] <= 40
    assert orjson.loads(plain.stdout)["matches"][0]["terms"][0]["points"] in (0, 30)
    weights.write_text("[weights]\nrol = 3\n")
    bad = runner.invoke(app, ["match", "REQ-W"], env=env | {"RAPPORT_MATCH_WEIGHTS": str(weights)})
    assert bad.exit_code == 2 and "weights.rol: unknown term" in bad.output
    unknown = runner.invoke(app, ["match", "REQ-NONE"], env=env)
    assert unknown.exit_code == 2 and "REQ-NONE was not opened" in unknown.output

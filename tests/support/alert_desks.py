"""Two recruiting desks the alert stories run on: ``FoldedDesk`` folds the alerts projection in
memory (no ledger, no database: the unit tier), ``StoredDesk`` records through the ledger and
keeps the view with the follower (the integration tier, on both stores). Both answer the same
questions, so one story checks the rules and then the machinery."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson

from domain.touchpoints import Touchpoint, candidate_id
from infra.core.settings import Settings
from infra.read.alerts import Alert, alert_from_row, open_alerts
from infra.read.follower import Follower
from infra.read.views import ViewStore
from infra.store.ledger import Ledger
from projections.alert_rules import AlertRules
from projections.alerts import CANDIDATES, EPISODES, AlertsProjection, open_as_of
from projections.base import Fact, State, Upsert
from tests.support.builders import tp

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CLOCK = datetime(2027, 6, 1, tzinfo=UTC)
"""The ledger's "now": every story is in its past."""


def day(n: float, hours: float = 0) -> str:
    return (START + timedelta(days=n, hours=hours)).isoformat()


def as_of(n: float, hours: float = 0) -> float:
    return (START + timedelta(days=n, hours=hours)).timestamp()


Episode = tuple[float, float, float | None, str | None]
"""(anchor day, due day, resolved day or None, resolution), days counted from ``START``."""


class Desk(Protocol):
    def record(self, *touchpoints: Touchpoint) -> None: ...

    def alerts(
        self, when: float, rule: str | None = None, recruiter: str | None = None
    ) -> list[Alert]: ...

    def episode_rows(self, candidate: str, rule: str) -> list[tuple[float, float, Any, Any]]: ...


def register(desk: Desk, candidate: str, recruiter: str = "rec-1") -> None:
    desk.record(tp("candidate_registered", candidate, day(0), recruiter=recruiter))


def open_now(
    desk: Desk, when: float, rule: str | None = None, recruiter: str | None = None
) -> set[tuple[str | None, str]]:
    """(candidate, rule) of every alert open as of ``when``."""
    return {(alert.candidate, alert.rule) for alert in desk.alerts(when, rule, recruiter)}


def episodes(desk: Desk, candidate: str, rule: str) -> list[Episode]:
    start = START.timestamp()
    return [
        (
            round((a - start) / 86_400, 3),
            round((d - start) / 86_400, 3),
            None if r is None else round((r - start) / 86_400, 3),
            why,
        )
        for a, d, r, why in desk.episode_rows(candidate, rule)
    ]


class FoldedDesk:
    """The alerts projection applied fact by fact, its rows kept in dictionaries."""

    def __init__(self, rules: AlertRules | None = None) -> None:
        self.projection = AlertsProjection(rules or AlertRules())
        self.keys = {table.name: table.key for table in self.projection.tables}
        self.tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
        self.states: dict[str, State] = {}
        self.versions: dict[str, int] = {}
        self.position = 0

    def record(self, *touchpoints: Touchpoint) -> None:
        for touchpoint in touchpoints:
            self.position += 1
            cid = str(candidate_id(touchpoint.candidate))
            self.versions[cid] = version = self.versions.get(cid, 0) + 1
            # What the ledger stores and the follower hands to projections: the touchpoint's
            # own JSON without its personal data.
            serialised = touchpoint.__pydantic_serializer__.to_json(
                touchpoint, exclude={"personal": True}
            )
            fact = Fact(
                self.position, cid, version, touchpoint.type,
                touchpoint.occurred_at.timestamp(), CLOCK.timestamp(), orjson.loads(serialised),
            )  # fmt: skip
            out: list[Upsert] = []
            self.projection.apply(self.states.setdefault(cid, {}), fact, out)
            for upsert in out:
                key = tuple(upsert.row[column] for column in self.keys[upsert.table])
                self.tables[upsert.table][key] = dict(upsert.row)

    def alerts(
        self, when: float, rule: str | None = None, recruiter: str | None = None
    ) -> list[Alert]:
        people = self.tables[CANDIDATES]
        found = []
        for e in self.tables[EPISODES].values():
            person = people.get((e["candidate_id"],), {})
            if not open_as_of(e["due_at"], e["resolved_at"], when):
                continue
            if (rule is not None and e["rule"] != rule) or (
                recruiter is not None and person.get("recruiter") != recruiter
            ):
                continue
            found.append(
                (e["candidate_id"], person.get("candidate"), person.get("recruiter"), e["rule"],
                 e["opened_by"], e["anchor_at"], e["due_at"])
            )  # fmt: skip
        found.sort(key=lambda row: (row[6], row[1] or "", row[3]))
        return [alert_from_row(row, when) for row in found]

    def episode_rows(self, candidate: str, rule: str) -> list[tuple[float, float, Any, Any]]:
        cid = str(candidate_id(candidate))
        rows = [
            e
            for e in self.tables[EPISODES].values()
            if e["candidate_id"] == cid and e["rule"] == rule
        ]
        rows.sort(key=lambda e: (e["anchor_at"], e["opened_position"]))
        return [(e["anchor_at"], e["due_at"], e["resolved_at"], e["resolution"]) for e in rows]


class StoredDesk:
    """A recruiting desk: its ledger, and the alerts view kept by a follower."""

    def __init__(self, settings: Settings, rules: AlertRules | None = None) -> None:
        self.ledger = Ledger(settings, clock=lambda: CLOCK)
        self.store = ViewStore(settings)
        self.projection = AlertsProjection(rules or AlertRules())
        self.follower = Follower(self.ledger.ledger_recorder, self.store, [self.projection])

    def close(self) -> None:
        self.store.close()
        self.ledger.close()

    def record(self, *touchpoints: Touchpoint) -> None:
        for touchpoint in touchpoints:
            self.ledger.record(touchpoint)
        self.follower.catch_up()

    def alerts(
        self, when: float, rule: str | None = None, recruiter: str | None = None
    ) -> list[Alert]:
        return open_alerts(self.store, when, rule=rule, recruiter=recruiter)

    def episode_rows(self, candidate: str, rule: str) -> list[tuple[float, float, Any, Any]]:
        return self.store.query(
            f"SELECT e.anchor_at, e.due_at, e.resolved_at, e.resolution FROM {EPISODES} e"
            f" JOIN {CANDIDATES} c ON c.candidate_id = e.candidate_id"
            " WHERE c.candidate = ? AND e.rule = ? ORDER BY e.anchor_at, e.opened_position",
            (candidate, rule),
        )

"""Stale-contact alerts: episodes of silence per candidate, with the instant each falls due.

An alert depends on time passing with *nothing* happening, so this projection never looks at a
clock. For every rule (``projections/alert_rules.py``) it keeps the candidate's *episodes*: an
anchor (the fact that opened it), a due time (anchor + the rule's period) and, once something
clears it, the occurred time and reason of the clearing. An alert is open as of instant D iff

    due_at <= D  and  (resolved_at IS NULL or resolved_at > D)

so one indexed table answers "what is open now", "what was open on 1 March" and "what falls due
next" (a deadline queue on ``due_at``), without scanning candidates per tick.

Facts may be recorded late (back-dated), so the episodes are a function of the candidate's facts
ordered by when they *happened* (``occurred_at``, then ledger position), never of their arrival
order: the state keeps the few facts the rules need, each new fact is placed in that order, and
the candidate's episodes are evaluated again. A personal touch recorded today that happened
before a due time therefore resolves that episode as of when it happened. Rows are keyed by the
position of the fact that opened the episode; an episode a late fact shows never existed (say,
the candidate had left the pool before its anchor) is kept as *withdrawn* (resolved at its own
anchor, so never open), because views are only ever upserted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from itertools import pairwise
from typing import Any, ClassVar

from projections.alert_rules import (
    APPLICANT,
    CONGRATULATED,
    ENGAGED,
    ENRICHED,
    FOLLOW_UP,
    POOL,
    SHORTLISTED,
    AlertRule,
    AlertRules,
)
from projections.base import Column, Fact, Record, State, Table, Upsert, slot

EPISODES = "view_alert_episodes"
CANDIDATES = "view_alert_candidates"

WITHDRAWN = "withdrawn"

TOUCH_TYPES = frozenset(
    {
        "outreach_sent",
        "call_held",
        "application_acknowledged",
        "content_shared",
        "personal_note_sent",
        "shortlisted",
        "interview_scheduled",
        "offer_extended",
        "hired",
    }
)
"""Touchpoints by us that reach the candidate (an update, in the shortlist rule's sense)."""

STRUCTURAL = frozenset(
    {
        "added_to_talent_pool",
        "removed_from_talent_pool",
        "application_submitted",
        "shortlisted",
        "interview_scheduled",
        "offer_declined",
        "hired",
        "opted_out",
        "consent_given",
        "erasure_requested",
    }
)
"""Facts that change what a rule watches, whoever did them."""

FLAG_PERSONAL, FLAG_TOUCH = 1, 2

Entry = list[Any]
"""A remembered fact as stored (a JSON list); read it through ``Remembered``."""


class Remembered(Record):
    """What the rules remember of a fact, named over its stored list."""

    __slots__ = ()
    occurred_at = slot(0)
    position = slot(1)
    type = slot(2)
    flags = slot(3)
    argument = slot(4)
    """The talent pool or the job position the fact is about, or the day a not-now reply asked
    to be contacted again (``follow_up_on``, ISO), if any."""


class Episode(Record):
    """One episode of one rule, named over its stored list (the view's row, less its key)."""

    __slots__ = ()
    opened_by = slot(0)
    anchor_at = slot(1)
    due_at = slot(2)
    resolved_at = slot(3)
    resolution = slot(4)
    resolved_position = slot(5)

    @staticmethod
    def opened(by: str, anchor_at: float, due_at: float) -> list[Any]:
        return [by, anchor_at, due_at, None, None, None]

    def resolve(self, at: float, reason: str, position: int) -> None:
        self.resolved_at, self.resolution, self.resolved_position = at, reason, position


TIMELINE, EPISODES_KEPT, SNAPSHOT = "t", "e", "s"
"""A candidate's alert state: the remembered facts in the order they happened, the episodes as
last written, and the fold's state after the last fact (short keys: millions are stored)."""


def open_as_of(due_at: float | None, resolved_at: float | None, as_of: float) -> bool:
    """The one definition of an open alert: due by ``as_of`` and not resolved by then."""
    return due_at is not None and due_at <= as_of and (resolved_at is None or resolved_at > as_of)


def open_as_of_sql(table: str) -> str:
    """``open_as_of`` over the episodes table (aliased ``table``), for ``WHERE``; it takes the
    instant twice as parameters. ``tests/unit/test_alert_stories.py`` holds the two equal."""
    return f"{table}.due_at <= ? AND ({table}.resolved_at IS NULL OR {table}.resolved_at > ?)"


def _happened(entry: Entry) -> tuple[float, int]:
    """When a remembered fact happened, ties broken by ledger position."""
    fact = Remembered(entry)
    return fact.occurred_at, fact.position


def _entry(fact: Fact) -> Entry | None:
    """What the rules need of a fact, or None when no rule cares about it."""
    kind = fact.type
    flags = 0
    if fact.is_personal_touch:
        flags |= FLAG_PERSONAL | FLAG_TOUCH
    elif kind in TOUCH_TYPES and (fact.get("recruiter") or fact.get("automated")):
        flags |= FLAG_TOUCH
    engaging = kind == "call_held" or fact.is_engaging_reply
    congratulated = kind == "profile_enriched" and fact.get("change") in CONGRATULATED
    if not flags and not engaging and not congratulated and kind not in STRUCTURAL:
        return None
    argument = fact.get("pool") or fact.get("position") or fact.get("follow_up_on")
    return [fact.occurred_at, fact.position, kind, flags, argument]


def day_start(day: str) -> float:
    """The first instant (UTC) of an ISO day."""
    return datetime.combine(date.fromisoformat(day), time(), UTC).timestamp()


class _Evaluation:
    """A fold over a candidate's remembered facts, in the order they happened.

    Its state after the last fact (``snapshot``) is kept, so a fact that happened after all the
    others (the usual case) continues the fold instead of replaying it.
    """

    def __init__(self, rules: _Rules, snapshot: State | None = None) -> None:
        self.period, self.suppressible = rules
        snapshot = snapshot or {}
        self.pools: set[str] = set(snapshot.get("p", ()))
        self.process: set[str] = set(snapshot.get("h", ()))
        self.opted_out: bool = snapshot.get("o", False)
        self.erased: bool = snapshot.get("x", False)
        self.open: dict[str, str] = dict(snapshot.get("k", {}))
        """Each rule's open episode, by key."""
        self.found: dict[str, list[Any]] = {}
        """Episodes opened or changed by this pass, by key."""

    def snapshot(self) -> State:
        return {
            "p": sorted(self.pools),
            "h": sorted(self.process),
            "o": self.opted_out,
            "x": self.erased,
            "k": self.open,
        }

    # The methods below take a fact's fields unpacked (``step`` unpacks each entry once): they
    # run for every remembered fact of every candidate in a rebuild.

    def start(
        self, rule: str, at: float, position: int, kind: str, due_from: float | None = None
    ) -> None:
        """Open the rule's episode, due a period after ``due_from`` (default: its anchor)."""
        period = self.period.get(rule)
        if period is None or rule in self.open:
            return
        if self.opted_out and rule in self.suppressible:
            return
        key = f"{rule}|{position}"
        self.found[key] = Episode.opened(kind, at, (at if due_from is None else due_from) + period)
        self.open[rule] = key

    def stop(self, rule: str, at: float, position: int, reason: str) -> None:
        key = self.open.pop(rule, None)
        if key is not None:
            Episode(self.found[key]).resolve(at, reason, position)

    def condition(
        self,
        rule: str,
        holds: bool,
        fact: tuple[float, int, str],
        ended: str,
        reset: str | None,
    ) -> None:
        """A rule that watches a state (in a pool, in a hiring process) until a touch resets it;
        ``fact``: (occurred_at, position, type)."""
        at, position, kind = fact
        if rule in self.open:
            if not holds:
                self.stop(rule, at, position, ended)
            elif reset is not None:
                self.stop(rule, at, position, reset)
                self.start(rule, at, position, kind)
        elif holds:
            self.start(rule, at, position, kind)

    def step(self, entry: Entry) -> None:
        if self.erased:
            return  # nothing is recorded after an erasure
        at, position, kind, flags, argument = entry  # as ``Remembered`` names them
        personal = bool(flags & FLAG_PERSONAL)
        ended = "left the talent pool"
        if kind == "erasure_requested":
            self.erased = True
            for rule in list(self.open):
                self.stop(rule, at, position, "erased")
            return
        if kind == "opted_out":
            self.opted_out = True
            for rule in self.suppressible:
                self.stop(rule, at, position, "opted out")
        elif kind == "consent_given":
            self.opted_out = False
        elif kind == "added_to_talent_pool":
            self.pools.add(argument)
        elif kind == "removed_from_talent_pool":
            self.pools.discard(argument)
        elif kind == "hired":
            ended = "hired"
            self.pools.clear()
            self.process.clear()
            self.stop(ENGAGED, at, position, ended)
            self.stop(APPLICANT, at, position, ended)
            self.stop(FOLLOW_UP, at, position, ended)
        elif kind in ("shortlisted", "interview_scheduled"):
            self.process.add(argument)
        elif kind == "offer_declined":
            self.process.discard(argument)
            ended = "offer declined"
        fact = (at, position, kind)
        self.condition(POOL, bool(self.pools), fact, ended, "personal touch" if personal else None)
        self.condition(
            SHORTLISTED, bool(self.process), fact, ended, "touch from us" if flags else None
        )
        if personal:
            self.stop(ENGAGED, at, position, "personal touch")
            self.stop(APPLICANT, at, position, "personal touch")
            self.stop(FOLLOW_UP, at, position, "personal touch")
        if kind == "reply_received" and argument is not None:
            # "Not now, ask me in March": the candidate's own date, not a week's follow-up.
            self.start(FOLLOW_UP, at, position, kind, day_start(argument))
        elif kind == "call_held" or kind == "reply_received":
            self.start(ENGAGED, at, position, kind)
        elif kind == "application_submitted":
            self.start(APPLICANT, at, position, kind)
        # A promotion or certification noticed while in a pool waits for a personal note.
        if kind == "personal_note_sent":
            self.stop(ENRICHED, at, position, "personal note")
        elif not self.pools:
            self.stop(ENRICHED, at, position, ended)
        elif kind == "profile_enriched":
            self.start(ENRICHED, at, position, kind)


_Rules = tuple[dict[str, float], frozenset[str]]
"""(period by enabled rule, the enabled rules an opt-out suppresses)."""


def _compile(rules: Iterable[AlertRule]) -> _Rules:
    enabled = [rule for rule in rules if rule.enabled]
    return (
        {rule.name: rule.period for rule in enabled},
        frozenset(rule.name for rule in enabled if rule.suppressed_by_opt_out),
    )


def evaluate(timeline: list[Entry], rules: Iterable[AlertRule]) -> dict[str, list[Any]]:
    """Every episode of a candidate: ``"rule|opening position"`` -> [opened_by, anchor_at,
    due_at, resolved_at, resolution, resolved_position]."""
    evaluation = _Evaluation(_compile(rules))
    for entry in timeline:
        evaluation.step(entry)
    return evaluation.found


class AlertsProjection:
    """Keeps ``view_alert_episodes`` (the deadline queue) and ``view_alert_candidates``."""

    name: ClassVar[str] = "alerts"
    version: ClassVar[int] = 3
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            EPISODES,
            (
                Column("candidate_id", "TEXT"),
                Column("rule", "TEXT"),
                Column("opened_position", "BIGINT"),
                Column("opened_by", "TEXT"),
                Column("anchor_at", "DOUBLE PRECISION"),
                Column("due_at", "DOUBLE PRECISION"),
                Column("resolved_at", "DOUBLE PRECISION"),
                Column("resolution", "TEXT"),
                Column("resolved_position", "BIGINT"),
                Column("changed_position", "BIGINT"),
            ),
            key=("candidate_id", "rule", "opened_position"),
            indexes=(("due_at",), ("resolved_at",), ("changed_position",)),
        ),
        Table(
            CANDIDATES,
            (
                Column("candidate_id", "TEXT"),
                Column("candidate", "TEXT"),
                Column("recruiter", "TEXT"),
                Column("status", "TEXT"),
            ),
            key=("candidate_id",),
            indexes=(("recruiter",),),
        ),
    )

    reads: ClassVar[tuple[str, ...]] = (
        "candidate",
        "recruiter",
        "status",
        "automated",
        "personalization",
        "sentiment",
        "pool",
        "position",
        "change",
        "follow_up_on",
    )
    """The touchpoint fields ``apply`` reads (``Fact.is_personal_touch`` and
    ``is_engaging_reply`` included): a rebuild gives it only these."""

    def __init__(self, rules: AlertRules | None = None) -> None:
        self.rules = AlertRules() if rules is None else rules
        self._rules = _compile(self.rules)
        if self.rules.fingerprint:
            # Other periods give other due times: a different version makes the view rebuild.
            self.version = type(self).version + 100 * self.rules.fingerprint  # type: ignore[misc]

    def apply(self, state: State, fact: Fact, out: list[Upsert]) -> None:
        if fact.type == "candidate_registered":
            out.append(
                Upsert(
                    CANDIDATES,
                    {
                        "candidate_id": fact.candidate_id,
                        "candidate": fact.get("candidate"),
                        "recruiter": fact.get("recruiter"),
                        "status": fact.get("status"),
                    },
                )
            )
            return
        entry = _entry(fact)
        if entry is not None:
            self.remember(state, fact.candidate_id, entry, out)

    def remember(self, state: State, cid: str, entry: Entry, out: list[Upsert]) -> None:
        """Fold one remembered fact (``_entry``) of candidate ``cid`` into their episodes."""
        timeline: list[Entry] = state.setdefault(TIMELINE, [])
        new = Remembered(entry)
        position = new.position
        at = len(timeline)
        while at and _happened(timeline[at - 1]) > (new.occurred_at, position):
            at -= 1
        if at and Remembered(timeline[at - 1]).position == position:
            return  # delivered twice
        timeline.insert(at, entry)
        kept: dict[str, list[Any]] = state.setdefault(EPISODES_KEPT, {})
        if at == len(timeline) - 1:
            # It happened after everything known: continue the fold from where it stopped.
            evaluation = _Evaluation(self._rules, state.get(SNAPSHOT))
            evaluation.found = {key: list(kept[key]) for key in evaluation.open.values()}
            evaluation.step(entry)
            state[SNAPSHOT] = evaluation.snapshot()
            found = evaluation.found
        else:
            # Back-dated: every episode from the first fact again.
            evaluation = _Evaluation(self._rules)
            for earlier in timeline:
                evaluation.step(earlier)
            state[SNAPSHOT] = evaluation.snapshot()
            found = evaluation.found
            for key, episode in kept.items():
                named = Episode(episode)
                if key not in found and named.resolution != WITHDRAWN:
                    named.resolve(named.anchor_at, WITHDRAWN, position)
                    out.append(self._row(cid, key, episode, position))
        for key, episode in found.items():
            if kept.get(key) != episode:
                kept[key] = episode
                out.append(self._row(cid, key, episode, position))

    def apply_all(self, state: State, facts: Sequence[Fact], out: list[Upsert]) -> None:
        """A candidate's facts at once (in ledger order, from an empty state): the same rows and
        state as ``apply`` fact by fact, for a rebuild."""
        entries: list[Entry] = []
        for fact in facts:
            if fact.type == "candidate_registered":
                self.apply(state, fact, out)
            elif (entry := _entry(fact)) is not None:
                entries.append(entry)
        if entries:
            self.remember_all(state, facts[0].candidate_id, entries, out)

    def remember_all(
        self,
        state: State,
        cid: str,
        entries: Sequence[Entry],
        out: list[Upsert],
        *,
        in_order: bool | None = None,
    ) -> None:
        """``remember`` each of a candidate's entries in ledger order, from an empty state.

        When they arrived in the order they happened (nearly always; ``in_order`` says so when
        the caller knows), one pass over them gives every episode, and each row last changed when
        the fact that opened or resolved it arrived; otherwise they are folded one by one."""
        if in_order is None:
            in_order = all(_happened(a) <= _happened(b) for a, b in pairwise(entries))
        if state or not in_order:
            for entry in entries:
                self.remember(state, cid, entry, out)
            return
        evaluation = self._one_pass(entries)
        state[TIMELINE] = list(entries)
        state[EPISODES_KEPT] = evaluation.found
        state[SNAPSHOT] = evaluation.snapshot()
        for key, episode in evaluation.found.items():
            out.append(self._row(cid, key, episode, _last_changed(key, episode)))

    def episode_rows(self, cid: str, entries: Sequence[Entry]) -> list[tuple[Any, ...]]:
        """A candidate's episode rows (values in the table's column order, each row once, in
        its last version) from their entries in ledger order: what ``remember_all`` from an
        empty state leaves in the view, for a rebuild that keeps no state (the candidates with
        a back-dated fact; ``infra.read.set_based_alerts`` computes the others in SQL)."""
        out: list[Upsert] = []
        self.remember_all({}, cid, entries, out)
        last = {tuple(u.row[c] for c in _EPISODE_KEY): u.row for u in out}
        return [tuple(row[c] for c in _EPISODE_COLUMNS) for row in last.values()]

    def _one_pass(self, entries: Iterable[Entry]) -> _Evaluation:
        evaluation = _Evaluation(self._rules)
        for entry in entries:
            evaluation.step(entry)
        return evaluation

    @staticmethod
    def _row(cid: str, key: str, episode: list[Any], changed: int) -> Upsert:
        values = _episode_values(cid, key, episode, changed)
        return Upsert(EPISODES, dict(zip(_EPISODE_COLUMNS, values, strict=True)))


_EPISODE_COLUMNS = AlertsProjection.tables[0].column_names
_EPISODE_KEY = AlertsProjection.tables[0].key


def _last_changed(key: str, episode: list[Any]) -> int:
    """The position of the fact that last changed an episode in one pass: its resolution's,
    or the opening fact's."""
    changed = Episode(episode).resolved_position
    return int(key.split("|")[1]) if changed is None else int(changed)


def _episode_values(cid: str, key: str, episode: list[Any], changed: int) -> tuple[Any, ...]:
    """An episode's row, in ``view_alert_episodes``' column order."""
    rule, position = key.split("|")
    opened_by, anchor_at, due_at, resolved_at, resolution, resolved_position = episode
    return (
        cid,
        rule,
        int(position),
        opened_by,
        anchor_at,
        due_at,
        resolved_at,
        resolution,
        resolved_position,
        changed,
    )

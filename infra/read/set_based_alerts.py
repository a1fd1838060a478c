"""The set-based form of the alert episodes: ``projections.alerts``' fold, restated in SQL.

A rebuild gathers what the rules remember of each fact (``ALERT_ENTRIES``, the fold's
``_entry``) and computes every episode of every candidate whose facts were recorded in the order
they happened (nearly all) with window functions over those entries, ordered by ledger position:

* the states the rules watch, after each fact: opted out or not (the last opt-out or consent),
  how many talent pools and hiring processes the candidate is in (each pool's or position's
  membership changes only when it flips; a hire empties both), and everything after an erasure
  cut away (the erasure itself resolves what is open);
* a *watching* rule (the talent pool, the shortlist) has an open episode after a fact exactly
  when its state holds and an opt-out does not suppress it; an episode starts where that turns
  true, or where a touch resets it, and resolves at the next fact where it turns false or resets;
* a *triggered* rule (engaged, applicant) is resolved by any of its closers (a personal touch, a
  hire, an opt-out when it suppresses the rule, an erasure); between two closers, the first
  trigger an opt-out does not refuse opens the episode, and the next closer resolves it.

The candidates with a back-dated fact keep the fold (``infra.read.bulk``: a late fact withdraws
episodes, which depends on the order facts were recorded). ``tests/unit/test_set_based_alerts.py``
holds this form equal to the fold on drawn sequences of remembered facts, and ``tests/integration/
test_bulk_rebuild.py`` the whole rebuild, both row for row under drawn rule settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from infra.read.set_based import ALERTS, sql_list
from projections.alert_rules import (
    APPLICANT,
    CONGRATULATED,
    ENGAGED,
    ENRICHED,
    FOLLOW_UP,
    POOL,
    SHORTLISTED,
    AlertRule,
)
from projections.alerts import (
    FLAG_PERSONAL,
    FLAG_TOUCH,
    STRUCTURAL,
    TOUCH_TYPES,
    AlertsProjection,
)

ALERT_ENTRIES = f"""
    CREATE TABLE alert_entries AS
    SELECT * EXCLUDE (back, first),
        -- whether the candidate's remembered facts were recorded in the order they happened
        NOT bool_or(back) OVER (PARTITION BY cand) AS in_order
    FROM (
        SELECT *,
            -- the candidate as a small number, for the window functions' sorts
            sum(first::INTEGER) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING)::BIGINT AS cand
        FROM (
            SELECT candidate_id, happened, position, type, flags, argument,
                -- the fact as a small number, in the order of candidate and position
                row_number() OVER by_candidate AS seq,
                lag(candidate_id) OVER by_candidate IS DISTINCT FROM candidate_id AS first,
                coalesce(lag(candidate_id) OVER by_candidate = candidate_id
                    AND happened < lag(happened) OVER by_candidate, false) AS back
            FROM (
                SELECT candidate_id, happened, position, type,
                    CASE WHEN personal_touch THEN {FLAG_PERSONAL | FLAG_TOUCH}
                        WHEN type IN ({sql_list(TOUCH_TYPES)})
                            AND (coalesce(recruiter, '') <> '' OR automated) THEN {FLAG_TOUCH}
                        ELSE 0 END AS flags,
                    coalesce(nullif(pool, ''), requisition, follow_up_on) AS argument,
                    type = 'call_held' OR (type = 'reply_received' AND engaging) AS engaging,
                    type = 'profile_enriched' AND change IN ({sql_list(CONGRATULATED)})
                        AS congratulated
                FROM facts WHERE type <> 'candidate_registered')
            WHERE flags <> 0 OR engaging OR congratulated OR type IN ({sql_list(STRUCTURAL)})
            WINDOW by_candidate AS (ORDER BY candidate_id, position)))"""
"""What the alert rules remember of each fact (``projections.alerts._entry``), with whether its
candidate's facts all arrived in the order they happened."""

RESTATED_VERSION = 3
"""The version of the alerts' fold (``AlertsProjection.version`` under the built-in rules) this
module restates: a fold changed since (a new version) is run instead until this is updated."""


def alert_histories(*, everyone: bool) -> str:
    """The remembered facts of each candidate with a back-dated fact (``everyone``: of every
    candidate), as columns (happened, position, type, flags, argument) in ledger order: their
    episodes are folded (``AlertsProjection.episode_rows``)."""
    return f"""
    SELECT candidate_id,
        list(happened ORDER BY position), list(position ORDER BY position),
        list(type ORDER BY position), list(flags ORDER BY position),
        list(argument ORDER BY position)
    FROM alert_entries {"" if everyone else "WHERE NOT in_order"}
    GROUP BY candidate_id ORDER BY candidate_id"""


_POOL_FACT = "kind IN ('added_to_talent_pool', 'removed_from_talent_pool')"
_PROCESS_FACT = "kind IN ('shortlisted', 'interview_scheduled', 'offer_declined')"

_STATES = f"""
    marked AS (
        SELECT cand, seq, happened, position, type AS kind, flags, argument,
            coalesce(last_value(CASE type WHEN 'opted_out' THEN true
                WHEN 'consent_given' THEN false END IGNORE NULLS) OVER so_far, false) AS opted,
            count(*) FILTER (WHERE type = 'hired') OVER so_far AS hires,
            coalesce(count(*) FILTER (WHERE type = 'erasure_requested') OVER (
                PARTITION BY cand ORDER BY seq
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS erased_before
        FROM alert_entries WHERE in_order
        WINDOW so_far AS (PARTITION BY cand ORDER BY seq ROWS UNBOUNDED PRECEDING)),
    flips AS (
        SELECT *,
            CASE WHEN NOT {_POOL_FACT} THEN 0
                WHEN kind = 'added_to_talent_pool' THEN
                    CASE WHEN lag(kind) OVER member IS DISTINCT FROM 'added_to_talent_pool'
                        THEN 1 ELSE 0 END
                WHEN lag(kind) OVER member = 'added_to_talent_pool' THEN -1 ELSE 0 END
                AS pool_change,
            CASE WHEN NOT {_PROCESS_FACT} THEN 0
                WHEN kind <> 'offer_declined' THEN
                    CASE WHEN coalesce(lag(kind) OVER member, 'offer_declined')
                        = 'offer_declined' THEN 1 ELSE 0 END
                WHEN lag(kind) OVER member <> 'offer_declined' THEN -1 ELSE 0 END
                AS process_change
        FROM marked WHERE erased_before = 0
        WINDOW member AS (PARTITION BY cand, hires, {_POOL_FACT}, {_PROCESS_FACT}, argument
            ORDER BY seq)),
    states AS (
        SELECT cand, seq, happened, position, kind, flags, argument, opted,
            kind = 'erasure_requested' AS erasure,
            (flags & {FLAG_PERSONAL}) <> 0 AS personal,
            sum(pool_change) OVER since_hired AS pools,
            sum(process_change) OVER since_hired AS processes
        FROM flips
        WINDOW since_hired AS (PARTITION BY cand, hires ORDER BY seq ROWS UNBOUNDED PRECEDING))"""
"""After each remembered fact of an in-order candidate, up to their erasure: opted out or not,
and how many pools and hiring processes they are in (a membership counts when it flips, so each
pool's or position's facts are compared with the one before; ``hires`` numbers the stretches a
hire separates, each starting empty)."""

_ENDED = """CASE WHEN kind = 'hired' THEN 'hired' WHEN kind = 'offer_declined' THEN 'offer declined'
    ELSE 'left the talent pool' END"""
"""Why a watched state stopped holding (the fold's ``ended``)."""


def _suppressed(rule: AlertRule) -> str:
    """Whether the opt-out state suppresses the rule after a fact."""
    return "opted" if rule.suppressed_by_opt_out else "false"


def _opting_out(rule: AlertRule) -> str:
    """Whether a fact is an opt-out that resolves the rule's open episode."""
    return "kind = 'opted_out'" if rule.suppressed_by_opt_out else "false"


@dataclass(frozen=True, slots=True)
class _Form:
    """A rule's columns over ``states``: window terms (all over one ordering, so one sort) and
    what they make of each fact: whether it starts an episode, whether it ends the open one,
    and why."""

    rule: AlertRule
    windows: dict[str, str]
    starts: str
    ends: str
    """The fact resolves an episode open before it."""
    why: str
    due_from: str = "happened"
    """The instant its due time counts the period from (the fold's ``due_from``)."""


def _watching(rule: AlertRule, index: int, holds: str, reset: str, reason: str) -> _Form:
    """A rule open while a state holds (and no opt-out suppresses it), reset by a touch."""
    is_open = f"(NOT erasure AND {holds} AND NOT {_suppressed(rule)})"
    before = f"open_before_{index}"
    return _Form(
        rule,
        {before: f"coalesce(lag({is_open}) OVER w, false)"},
        starts=f"{is_open} AND (NOT {before} OR {reset})",
        ends=f"{before} AND (NOT {is_open} OR {reset})",
        why=f"""CASE WHEN erasure THEN 'erased' WHEN {is_open} THEN '{reason}'
            WHEN {_opting_out(rule)} THEN 'opted out' ELSE {_ENDED} END""",
    )


def _triggered(
    rule: AlertRule,
    index: int,
    trigger: str,
    closer: str = "personal",
    reason: str = "'personal touch'",
    due_from: str = "happened",
) -> _Form:
    """A rule a fact opens while none is open (no trigger since the last closer), and the next
    of its closers resolves (a closer on the trigger's own fact comes first): an erasure, an
    opt-out when it suppresses the rule, a hire, or ``closer`` (why: ``reason``)."""
    closes = f"(erasure OR {_opting_out(rule)} OR kind = 'hired' OR {closer})"
    valid = f"({trigger} AND NOT erasure AND NOT {_suppressed(rule)})"
    closed, closed_before = f"closed_{index}", f"closed_before_{index}"
    triggered = f"triggered_before_{index}"
    before = "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING"
    return _Form(
        rule,
        {
            closed: f"max(CASE WHEN {closes} THEN seq END) OVER (w ROWS UNBOUNDED PRECEDING)",
            closed_before: f"max(CASE WHEN {closes} THEN seq END) OVER (w {before})",
            triggered: f"max(CASE WHEN {valid} THEN seq END) OVER (w {before})",
        },
        starts=f"{valid} AND coalesce({triggered} < {closed}, {triggered} IS NULL)",
        ends=f"{closes} AND coalesce({triggered} >= {closed_before}, {triggered} IS NOT NULL)",
        why=f"""CASE WHEN erasure THEN 'erased' WHEN {_opting_out(rule)} THEN 'opted out'
            WHEN kind = 'hired' THEN 'hired' ELSE {reason} END""",
        due_from=due_from,
    )


_FORMS = {
    POOL: lambda rule, i: _watching(rule, i, "pools > 0", "personal", "personal touch"),
    SHORTLISTED: lambda rule, i: _watching(rule, i, "processes > 0", "flags <> 0", "touch from us"),
    ENGAGED: lambda rule, i: _triggered(
        rule, i, "(kind = 'call_held' OR (kind = 'reply_received' AND argument IS NULL))"
    ),
    # a not-now reply naming its day: due a period after that day starts
    FOLLOW_UP: lambda rule, i: _triggered(
        rule,
        i,
        "kind = 'reply_received' AND argument IS NOT NULL",
        due_from="epoch(TRY_CAST(argument AS DATE))",  # a pool's or position's name elsewhere
    ),
    APPLICANT: lambda rule, i: _triggered(rule, i, "kind = 'application_submitted'"),
    # opened by a (congratulated) enrichment while in a pool; a note or leaving every pool ends it
    ENRICHED: lambda rule, i: _triggered(
        rule,
        i,
        "kind = 'profile_enriched' AND pools > 0",
        closer="(kind = 'personal_note_sent' OR pools = 0)",
        reason="CASE WHEN kind = 'personal_note_sent' THEN 'personal note'"
        " ELSE 'left the talent pool' END",
    ),
}


def alert_episodes(projection: AlertsProjection) -> str | None:
    """Every episode of the in-order candidates, as ``view_alert_episodes`` rows in key order;
    None when the fold must compute them (it changed since this restatement, or no rule is
    enabled).

    Each rule keeps the facts that start its episodes or resolve an open one; the fact after a
    start, among those, is the one that resolves it, so ``lead`` finds the resolution (rules
    are numbered in the plan, in the order of their names)."""
    if type(projection).version != RESTATED_VERSION:
        return None
    rules = projection.rules
    enabled = sorted((rule for rule in rules if rule.enabled), key=lambda rule: rule.name)
    forms = [_FORMS[rule.name](rule, i) for i, rule in enumerate(enabled)]
    if not forms:
        return None
    names = "[" + ", ".join(f"'{form.rule.name}'" for form in forms) + "]"
    windows = ", ".join(f"{term} AS {name}" for f in forms for name, term in f.windows.items())
    marks = " UNION ALL ".join(
        f"""
        SELECT cand, {number} AS rule, seq, position, kind, happened,
            {form.due_from} + '{form.rule.period!r}'::DOUBLE AS due_at,
            {form.starts} AS starts,
            {form.why} AS why
        FROM ruled WHERE {form.starts} OR {form.ends}"""
        for number, form in enumerate(forms, start=1)
    )
    return f"""
    WITH {_STATES},
    ruled AS (
        SELECT *, {windows} FROM states WINDOW w AS (PARTITION BY cand ORDER BY seq)),
    marks AS ({marks}),
    episodes AS (
        SELECT cand, rule, position, kind, happened, due_at, starts,
            lead(happened) OVER next AS resolved_at, lead(why) OVER next AS resolution,
            lead(position) OVER next AS resolved_position
        FROM marks WINDOW next AS (PARTITION BY cand, rule ORDER BY seq))
    SELECT who.candidate_id, {names}[rule], position, kind, happened, due_at, resolved_at,
        resolution, resolved_position, coalesce(resolved_position, position)
    FROM episodes JOIN (SELECT DISTINCT cand, candidate_id FROM alert_entries) AS who USING (cand)
    WHERE starts
    ORDER BY cand, rule, position"""


class AlertStatements(NamedTuple):
    """What a rebuild asks DuckDB for the alerts' tables, each once."""

    registrations: dict[str, str]
    """``view_alert_candidates``' statement (``infra.read.set_based.ALERTS``)."""
    episodes: str | None
    """The in-order candidates' episodes (``alert_episodes``); None: the fold does them all."""
    histories: str
    """The remembered facts of the candidates the fold does (``alert_histories``)."""

    @classmethod
    def of(cls, projection: AlertsProjection) -> AlertStatements:
        episodes = alert_episodes(projection)
        return cls(ALERTS, episodes, alert_histories(everyone=episodes is None))

    def in_order(self) -> list[str]:
        """Every statement, in the order a rebuild reads their rows (``ALERT_ENTRIES`` first
        fills the table the last two read)."""
        episodes = [self.episodes] if self.episodes else []
        return [*self.registrations.values(), ALERT_ENTRIES, *episodes, self.histories]

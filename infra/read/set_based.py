"""The set-based forms of the journey and engagement views: the same rows as the fold, in SQL.

A rebuild reads every event once into a columnar table of facts (DuckDB, embedded) and computes
each view's rows with a few statements over the whole history, instead of folding millions of
facts one at a time in Python. The fold (``projections/journey.py``, ``projections/engagement.py``)
stays the definition for live updates; these statements restate it, rule for rule, and
``tests/integration/test_bulk_rebuild.py`` holds the two equal (rows byte for byte, on hypothesis
histories that are back-dated, shuffled, erased and opted out, on SQLite and PostgreSQL).

Why the restatement is exact: every engagement value is a minimum over a set of facts ("the
earliest reply strictly after the outreach", "the first moment each stage was entered"), so it
depends on which facts exist, never on the order the fold met them; the journey's header
follows from the registration alone. The alert episodes, which depend on the order facts
happened, have their own restatement (``infra.read.set_based_alerts``).
"""

from __future__ import annotations

from collections.abc import Mapping

from infra.read.set_based_pool import POOL_FORM
from projections.alerts import CANDIDATES
from projections.base import ENGAGING_SENTIMENTS, NOT_TOUCHES
from projections.engagement import (
    AUTOMATION,
    BOUNCE_WITHIN,
    ENGAGING_TYPES,
    STAGE_OF,
    EngagementProjection,
)
from projections.journey import REACHES, TIMELINE, JourneyProjection, TimelineProjection
from projections.replies import REPLIES, RepliesProjection

_TOUCHPOINT_FIELDS = {
    "type": "VARCHAR",
    "candidate": "VARCHAR",
    "occurred_at": "VARCHAR",
    "status": "VARCHAR",
    "role": "VARCHAR",
    "therapeutic_areas": "VARCHAR[]",
    "recruiter": "VARCHAR",
    "automated": "BOOLEAN",
    "personalization": "VARCHAR",
    "channel": "VARCHAR",
    "campaign": "VARCHAR",
    "sentiment": "VARCHAR",
    "position": "VARCHAR",
    "pool": "VARCHAR",
    "trial_phases": "VARCHAR[]",
    "certifications": "VARCHAR[]",
    "country": "VARCHAR",
    "years_experience": "BIGINT",
    "certification": "VARCHAR",
    "scope": "VARCHAR",
    "change": "VARCHAR",
    "source": "VARCHAR",
    "reason": "VARCHAR",
    "follow_up_on": "VARCHAR",
    "bounce": "VARCHAR",
}
"""The touchpoint fields the set-based forms read (every other field only reaches ``data``)."""

COLUMN_OF = {name: name for name in _TOUCHPOINT_FIELDS} | {
    "position": "requisition",
    "therapeutic_areas": "areas",
    "occurred_at": "happened",
}
"""The ``facts`` column holding each touchpoint field, for a fold that names what it reads."""


def _struct(fields: Mapping[str, str]) -> str:
    return "{" + ", ".join(f'"{name}": "{kind}"' for name, kind in fields.items()) + "}"


def sql_list(names: frozenset[str]) -> str:
    """Names as an SQL list of string literals (names are the catalogue's, never input)."""
    return ", ".join(f"'{name}'" for name in sorted(names))


_EVENT_SHAPE = (
    _struct({"timestamp": "VARCHAR"})[:-1] + ', "touchpoint": ' + _struct(_TOUCHPOINT_FIELDS) + "}"
)

FACTS = """
CREATE TABLE facts (
    position BIGINT, candidate_id VARCHAR, version BIGINT, type VARCHAR,
    happened DOUBLE, recorded_at DOUBLE, candidate VARCHAR, status VARCHAR, role VARCHAR,
    areas VARCHAR[], recruiter VARCHAR, automated BOOLEAN, personalization VARCHAR,
    channel VARCHAR, campaign VARCHAR, sentiment VARCHAR, requisition VARCHAR, pool VARCHAR,
    trial_phases VARCHAR[], certifications VARCHAR[], country VARCHAR, years_experience BIGINT,
    certification VARCHAR, scope VARCHAR, change VARCHAR, source VARCHAR, reason VARCHAR,
    follow_up_on VARCHAR, bounce VARCHAR, personal_touch BOOLEAN, engaging BOOLEAN, data VARCHAR
)
"""
"""One row per event, typed: what a ``projections.base.Fact`` carries, plus its two flags."""

_TOUCHPOINT_COLUMNS = f"""t.candidate, t.status, t.role, t.therapeutic_areas, t.recruiter,
    coalesce(t.automated, false), t.personalization, t.channel, t.campaign, t.sentiment,
    t.position, t.pool,
    t.trial_phases, t.certifications, t.country, t.years_experience, t.certification, t.scope,
    t.change, t.source, t.reason, t.follow_up_on, t.bounce,
    -- Fact.is_personal_touch: a recruiter's own touch, not a registration, a dismissal or a blast
    coalesce(t.recruiter, '') <> '' AND NOT coalesce(t.automated, false)
        AND t.type NOT IN ({sql_list(NOT_TOUCHES)})
        AND t.personalization IS DISTINCT FROM 'generic_blast',
    -- what credits an engagement (engagement.ENGAGING_TYPES and Fact.is_engaging_reply)
    t.type IN ({sql_list(ENGAGING_TYPES)})
        OR (t.type = 'reply_received' AND t.sentiment IN ({sql_list(ENGAGING_SENTIMENTS)}))"""
"""The ``facts`` columns read from a touchpoint ``t`` (a struct of ``_TOUCHPOINT_FIELDS``)."""

_LOAD_FACTS = f"""
INSERT INTO facts
SELECT position, candidate_id, version, t.type,
    -- seconds as Python computes them: microseconds / 10**6, one rounding
    epoch_us(t.occurred_at::TIMESTAMPTZ) / 1e6, epoch_us(e.timestamp::TIMESTAMPTZ) / 1e6,
    {_TOUCHPOINT_COLUMNS},
    {{data}}
FROM (
    -- the touchpoint named in a projection of its own, not a LATERAL subquery: DuckDB plans
    -- that as a join of the chunk with itself (about half of the load's time)
    SELECT *, e.touchpoint AS t
    FROM (
        SELECT position, candidate_id, version, body,
            from_json(body, '{_EVENT_SHAPE}') AS e
        FROM (SELECT position, version, decode(state) AS body,
            -- the ledger's ids as the views write them (a UUID's text, dashed)
            CASE WHEN length(candidate_id) = 32 THEN concat_ws('-', candidate_id[1:8],
                candidate_id[9:12], candidate_id[13:16], candidate_id[17:20],
                candidate_id[21:32])
                ELSE candidate_id END AS candidate_id
            FROM chunk)))
-- a position's event carries a fact, not a touchpoint: the candidates' views never see it
WHERE t IS NOT NULL
"""
_DATA = """json_merge_patch(json_extract(body, '$.touchpoint'), '{"personal": null}')"""
"""The touchpoint as a fact carries it: everything but ``personal``."""


def load_facts(*, with_data: bool) -> str:
    """From a chunk of stored events (an Arrow table ``chunk``: position, candidate_id,
    version, state) into ``facts``: the JSON parsed once per event, in C. ``with_data``: keep
    each touchpoint whole too, for a fold that reads any field (it costs a second parse)."""
    return _LOAD_FACTS.replace("{data}", _DATA if with_data else "NULL")


LOAD_FOLDED_FACTS = f"""
INSERT INTO facts
SELECT position, candidate_id, version, t.type, happened, recorded_at,
    {_TOUCHPOINT_COLUMNS}, data
FROM (SELECT *, from_json(data, '{_struct(_TOUCHPOINT_FIELDS)}') AS t FROM chunk)
"""
"""From facts already decoded in Python (an Arrow table ``chunk``: position, candidate_id,
version, happened, recorded_at, and data, the touchpoint without ``personal`` serialised as the
fold serialises it) into ``facts``: a consumer group's facts, read from the topic."""


_STAGE_OF = (
    "CASE type "
    + " ".join(f"WHEN '{kind}' THEN '{stage}'" for kind, stage in sorted(STAGE_OF.items()))
    + " END"
)
"""The funnel stage a fact's type enters (``projections.engagement.STAGE_OF``)."""

_REGISTRATIONS = """(SELECT * FROM facts WHERE type = 'candidate_registered'
    QUALIFY row_number() OVER (PARTITION BY candidate_id ORDER BY position DESC) = 1)"""
"""Each candidate's registration (the last, were there two: the fold's upsert keeps the last)."""

JOURNEY: dict[str, str] = {
    "view_journey_candidates": f"""
        SELECT candidate_id, candidate, status, role, recruiter, happened, source
        FROM {_REGISTRATIONS} ORDER BY candidate_id""",
}

ENGAGEMENT: dict[str, str] = {
    # Each outreach, credited with the earliest reply and the earliest engagement strictly after
    # it (an as-of join finds the nearest later one per candidate, without pairing every reply
    # with every outreach), with the status and role of the candidate's registration.
    "view_outreach": f"""
        WITH outreach AS (SELECT * FROM facts WHERE type = 'outreach_sent'),
        replies AS (SELECT candidate_id, happened FROM facts WHERE type = 'reply_received'),
        engagements AS (SELECT candidate_id, happened FROM facts WHERE engaging),
        -- each bounce goes to the latest outreach on its channel sent at or before it (ties: the
        -- later position), within BOUNCE_WITHIN; an outreach keeps its earliest bounce
        sequenced AS (
            SELECT type, position, happened, bounce,
                last_value(CASE WHEN type = 'outreach_sent' THEN position END IGNORE NULLS)
                    OVER w AS target,
                last_value(CASE WHEN type = 'outreach_sent' THEN happened END IGNORE NULLS)
                    OVER w AS target_sent
            FROM facts WHERE type IN ('outreach_sent', 'outreach_bounced')
            WINDOW w AS (PARTITION BY candidate_id, channel
                ORDER BY happened, type = 'outreach_bounced', position
                ROWS UNBOUNDED PRECEDING)),
        bounced AS (
            SELECT target, first(happened ORDER BY happened, position) AS at,
                first(bounce ORDER BY happened, position) AS bounce
            FROM sequenced
            WHERE type = 'outreach_bounced' AND target IS NOT NULL
                AND happened <= target_sent + {BOUNCE_WITHIN!r}
            GROUP BY target)
        SELECT o.position, o.candidate_id, o.happened, reg.status, reg.role,
            o.personalization, o.channel,
            CASE WHEN o.automated THEN '{AUTOMATION}'
                ELSE coalesce(nullif(o.recruiter, ''), '{AUTOMATION}') END,
            o.campaign,
            strftime(to_timestamp(o.happened), '%G-W%V'),
            strftime(to_timestamp(o.happened), '%Y-%m'),
            r.happened, g.happened, b.at, b.bounce
        FROM outreach o
        LEFT JOIN {_REGISTRATIONS} reg ON reg.candidate_id = o.candidate_id
        LEFT JOIN bounced b ON b.target = o.position
        -- the nearest later moment: the earliest reply (engagement) strictly after the outreach
        ASOF LEFT JOIN replies r
            ON r.candidate_id = o.candidate_id AND o.happened < r.happened
        ASOF LEFT JOIN engagements g
            ON g.candidate_id = o.candidate_id AND o.happened < g.happened
        ORDER BY o.position""",
    "view_candidate_areas": f"""
        SELECT DISTINCT candidate_id, unnest(areas) AS area
        FROM {_REGISTRATIONS} ORDER BY candidate_id, area""",
    # Each application (by requisition) at its earliest moment, with the first personal touch
    # and the first automated acknowledgement of that requisition strictly after it.
    "view_applications": """
        WITH applied AS (
            SELECT candidate_id, requisition, min(happened) AS at FROM facts
            WHERE type = 'application_submitted' GROUP BY candidate_id, requisition),
        touches AS (SELECT candidate_id, happened FROM facts WHERE personal_touch),
        acks AS (
            SELECT candidate_id, requisition, happened FROM facts
            WHERE type = 'application_acknowledged' AND automated)
        SELECT a.candidate_id, a.requisition, a.at, t.happened, k.happened
        FROM applied a
        ASOF LEFT JOIN touches t ON t.candidate_id = a.candidate_id AND a.at < t.happened
        ASOF LEFT JOIN acks k ON k.candidate_id = a.candidate_id
            AND k.requisition = a.requisition AND a.at < k.happened
        ORDER BY a.candidate_id, a.requisition""",
    "view_stage_entries": f"""
        SELECT candidate_id, stage, min(happened) FROM (
            SELECT candidate_id, {_STAGE_OF} AS stage, happened FROM facts
            UNION ALL
            SELECT candidate_id, 'engaged', happened FROM facts WHERE engaging)
        WHERE stage IS NOT NULL
        GROUP BY candidate_id, stage ORDER BY candidate_id, stage""",
    # Each piece of content shared, credited like outreach.
    "view_content": f"""
        WITH shared AS (SELECT * FROM facts WHERE type = 'content_shared'),
        replies AS (SELECT candidate_id, happened FROM facts WHERE type = 'reply_received'),
        engagements AS (SELECT candidate_id, happened FROM facts WHERE engaging)
        SELECT s.position, s.candidate_id, s.happened,
            CASE WHEN s.automated THEN '{AUTOMATION}'
                ELSE coalesce(nullif(s.recruiter, ''), '{AUTOMATION}') END,
            strftime(to_timestamp(s.happened), '%Y-%m'),
            r.happened, g.happened
        FROM shared s
        ASOF LEFT JOIN replies r
            ON r.candidate_id = s.candidate_id AND s.happened < r.happened
        ASOF LEFT JOIN engagements g
            ON g.candidate_id = s.candidate_id AND s.happened < g.happened
        ORDER BY s.position""",
    "view_pool_entries": """
        SELECT candidate_id, min(happened) FROM facts WHERE type = 'added_to_talent_pool'
        GROUP BY candidate_id ORDER BY candidate_id""",
}


ALERTS: dict[str, str] = {
    CANDIDATES: f"""
        SELECT candidate_id, candidate, recruiter, status
        FROM {_REGISTRATIONS} ORDER BY candidate_id""",
}
"""The alerts' tables that follow from the registration alone."""

_REACHES = (
    "CASE type WHEN 'reply_received' THEN CASE WHEN engaging THEN 'engaged' END "
    + " ".join(f"WHEN '{kind}' THEN '{stage}'" for kind, stage in sorted(REACHES.items()))
    + " END"
)
"""The stage a fact shows the candidate has reached (``projections.journey._reaches``)."""

TIMELINE_ROWS: dict[str, str] = {
    TIMELINE: f"""
        SELECT candidate_id, version, position, happened, recorded_at, type,
            CASE WHEN type = 'erasure_requested' THEN 'compliance'
                WHEN type = 'candidate_registered' THEN coalesce(nullif(recruiter, ''), 'crm')
                WHEN automated THEN 'automation'
                ELSE coalesce(nullif(recruiter, ''), 'candidate') END,
            personal_touch::INTEGER, {_REACHES}, data
        FROM facts ORDER BY candidate_id, version""",
}
"""The timeline a consumer group keeps: one row per fact, its data as the fold wrote it."""

REPLY_ROWS: dict[str, str] = {
    REPLIES.name: """
        SELECT position, candidate_id, happened, channel, sentiment, reason, follow_up_on
        FROM facts WHERE type = 'reply_received' ORDER BY position""",
}
"""Every reply as ``projections.replies`` writes it: a function of its fact alone."""

SET_BASED: dict[tuple[str, int], dict[str, str]] = {
    (JourneyProjection.name, JourneyProjection.version): JOURNEY,
    (RepliesProjection.name, RepliesProjection.version): REPLY_ROWS,
    (EngagementProjection.name, EngagementProjection.version): ENGAGEMENT,
    **POOL_FORM,
}
"""(projection name, version) -> each of its tables -> the statement giving its rows, in key
order. A projection whose version is not here (its fold changed since) is folded instead."""

EXACT_DATA: dict[tuple[str, int], dict[str, str]] = {
    (TimelineProjection.name, TimelineProjection.version): TIMELINE_ROWS,
}
"""Set-based forms that copy each fact's ``data``: only for a source whose ``data`` column is
byte for byte what the fold writes (``FactSource.exact_data``)."""

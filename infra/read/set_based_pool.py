"""The set-based form of the pool view: the same rows as ``projections.pool``'s fold, in SQL.

Why the restatement is exact: every item of a candidate's pool state is order-free by design
(the latest fact by when it happened, ties by ledger position; a maximum; a union; the latest 24
moments), so it is a window or an aggregate over the candidate's facts, whatever order they
arrived in. The JSON columns are written by DuckDB's ``to_json``, which prints strings and
doubles as orjson does (``tests/integration/test_bulk_rebuild.py`` holds the rows equal byte for
byte, on both stores).
"""

from __future__ import annotations

from collections.abc import Iterable

from projections.pool import (
    AREA_BITS,
    CERTIFICATION_BITS,
    CONTENT_REPLY_DAYS,
    KEPT_TIMES,
    PHASE_BITS,
    POOL,
    PROCESS_STAGES,
    SILVER,
    PoolProjection,
)


def _names(values: Iterable[str]) -> str:
    """Names as an SQL list of string literals (the catalogue's names, never input)."""
    return ", ".join(f"'{value}'" for value in sorted(values))


def _mask(column: str, bits: dict[str, int]) -> str:
    """SQL: the bit mask of a list column's values (``projections.pool.bits``)."""
    cases = " ".join(f"WHEN '{value}' THEN {bit}" for value, bit in bits.items())
    return (
        f"coalesce(list_sum(list_transform(list_distinct({column}),"
        f" lambda v: CASE v {cases} ELSE 0 END)), 0)"
    )


_STAGE = (
    "CASE type " + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in PROCESS_STAGES.items()) + " END"
)
_SILVER_TYPES = [kind for kind, stage in PROCESS_STAGES.items() if stage in SILVER]

POOL_ROWS = f"""
WITH registered AS (
    SELECT candidate_id, candidate, recruiter, status, role, areas, trial_phases,
        certifications, country, years_experience, happened
    FROM facts WHERE type = 'candidate_registered'
    QUALIFY row_number() OVER (PARTITION BY candidate_id ORDER BY position DESC) = 1
),
enriched AS (
    SELECT candidate_id, list(certification) AS certifications FROM facts
    WHERE type = 'profile_enriched' AND certification IS NOT NULL GROUP BY candidate_id
),
pools AS (
    SELECT candidate_id, list_sort(list(pool) FILTER (WHERE joined)) AS pools FROM (
        SELECT candidate_id, pool, type = 'added_to_talent_pool' AS joined FROM facts
        WHERE type IN ('added_to_talent_pool', 'removed_from_talent_pool')
        QUALIFY row_number() OVER (
            PARTITION BY candidate_id, pool ORDER BY happened DESC, position DESC) = 1
    ) GROUP BY candidate_id
),
consent AS (
    SELECT candidate_id, CASE WHEN type = 'consent_given' THEN 'given'
        WHEN scope = 'do_not_contact' THEN 'do_not_contact' ELSE 'withdrawn' END AS consent
    FROM facts WHERE type IN ('opted_out', 'consent_given')
    QUALIFY row_number() OVER (PARTITION BY candidate_id ORDER BY happened DESC, position DESC) = 1
),
moments AS (
    SELECT candidate_id,
        bool_or(type = 'erasure_requested') AS erased,
        max(happened) FILTER (WHERE personal_touch) AS touched,
        max(happened) FILTER (WHERE engaging) AS engaged
    FROM facts GROUP BY candidate_id
),
kept AS (
    -- the latest {KEPT_TIMES} moments of each kind the fold keeps
    SELECT candidate_id, type, happened FROM facts
    WHERE type IN ('outreach_sent', 'content_shared', 'reply_received')
    QUALIFY row_number() OVER (PARTITION BY candidate_id, type ORDER BY happened DESC)
        <= {KEPT_TIMES}
),
outreach AS (
    SELECT candidate_id, list_sort(list(happened)) AS times FROM kept
    WHERE type = 'outreach_sent' GROUP BY candidate_id
),
content_replies AS (
    SELECT reply.candidate_id, max(reply.happened) AS at
    FROM kept AS reply JOIN kept AS shared ON shared.candidate_id = reply.candidate_id
        AND shared.type = 'content_shared' AND shared.happened <= reply.happened
        AND reply.happened <= shared.happened + {CONTENT_REPLY_DAYS * 86_400.0!r}
    WHERE reply.type = 'reply_received'
    GROUP BY reply.candidate_id
),
stages AS (
    SELECT candidate_id, requisition, happened, {_STAGE} AS stage FROM facts
    WHERE type IN ({_names(PROCESS_STAGES)}) AND requisition IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY candidate_id, requisition ORDER BY happened DESC, position DESC) = 1
),
processes AS (
    SELECT candidate_id, '{{' || string_agg(to_json(requisition) || ':[' || to_json(happened)
        || ',' || to_json(stage) || ']', ',' ORDER BY requisition) || '}}' AS processes
    FROM stages GROUP BY candidate_id
),
silver AS (
    SELECT medal.candidate_id, list_sort(list(DISTINCT medal.requisition)) AS positions
    FROM facts AS medal LEFT JOIN stages ON stages.candidate_id = medal.candidate_id
        AND stages.requisition = medal.requisition
    WHERE medal.type IN ({_names(_SILVER_TYPES)}) AND medal.requisition IS NOT NULL
        AND stages.stage IS DISTINCT FROM 'hired'
    GROUP BY medal.candidate_id
),
dismissals AS (
    SELECT candidate_id, list_sort(list(DISTINCT requisition)) AS positions FROM facts
    WHERE type = 'match_dismissed' GROUP BY candidate_id
),
hires AS (
    SELECT candidate_id, happened, requisition FROM facts
    WHERE type = 'hired' AND requisition IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY candidate_id ORDER BY happened DESC, position DESC) = 1
)
SELECT registered.candidate_id, registered.candidate, registered.recruiter, registered.status,
    registered.role, {_mask("registered.areas", AREA_BITS)},
    {_mask("registered.trial_phases", PHASE_BITS)},
    {_mask("registered.certifications", CERTIFICATION_BITS)}
        | {_mask("enriched.certifications", CERTIFICATION_BITS)},
    registered.country, registered.years_experience, registered.happened,
    coalesce(to_json(pools.pools), '[]'), CASE WHEN len(pools.pools) > 0 THEN 1 ELSE 0 END,
    coalesce(consent.consent, 'not_recorded'), CASE WHEN moments.erased THEN 1 ELSE 0 END,
    moments.touched, moments.engaged, content_replies.at,
    coalesce(to_json(outreach.times), '[]'), coalesce(processes.processes, '{{}}'),
    coalesce(to_json(silver.positions), '[]'), hires.happened, hires.requisition,
    coalesce(to_json(dismissals.positions), '[]')
FROM registered
LEFT JOIN enriched USING (candidate_id)
LEFT JOIN pools USING (candidate_id)
LEFT JOIN consent USING (candidate_id)
LEFT JOIN moments USING (candidate_id)
LEFT JOIN content_replies USING (candidate_id)
LEFT JOIN outreach USING (candidate_id)
LEFT JOIN processes USING (candidate_id)
LEFT JOIN silver USING (candidate_id)
LEFT JOIN hires USING (candidate_id)
LEFT JOIN dismissals USING (candidate_id)
ORDER BY registered.candidate_id
"""
"""The pool view's rows, in its columns' order, from ``facts``."""

POOL_FORM: dict[tuple[str, int], dict[str, str]] = {
    (PoolProjection.name, PoolProjection.version): {POOL.name: POOL_ROWS},
}
"""The set-based form of each pool projection version this statement restates."""

"""Engagement metrics, the funnel and the candidate experience, read from the views.

Why here and not in ``projections/``: these are queries over the engagement projection's tables
(``projections/engagement.py``) that apply the attribution window and the "as of" instant at
query time, so one set of views answers any window and any date. Counting is SQL ``GROUP BY``
(the same statements on SQLite and PostgreSQL); percentiles and medians are Python.

"As of D" counts only facts that occurred at or before D: outreach sent after D is left out, and
a response or engagement after D does not count (the views keep the *earliest* qualifying moment
after each outreach, so comparing that one moment with D and with the window is exact).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from infra.read.reader import Reader
from projections.journey import FunnelStage, funnel_of
from projections.rates import Rate, percentile

DAY = 86_400.0
HOUR = 3_600.0

DIMENSIONS: dict[str, str] = {
    "status": "o.status",
    "personalization": "o.personalization",
    "channel": "o.channel",
    "recruiter": "o.recruiter",
    "role": "o.role",
    "therapeutic_area": "a.area",
    "campaign": "o.campaign",
    "cohort_week": "o.cohort_week",
    "cohort_month": "o.cohort_month",
    "audience": "CASE WHEN pe.entered_at <= o.sent_at THEN 'pool' ELSE 'cold' END",
    "source": "jc.source",
}
"""The dimensions a report can be broken down by, and the column each one groups on.
``audience``: ``pool`` for outreach to someone who had joined a talent pool by the moment it
was sent, ``cold`` otherwise (README, "Definitions"); ``source``: where the candidate came from
(their registration's ``source``: career site, job board, referral...)."""

_JOINS: dict[str, str] = {
    "therapeutic_area": " LEFT JOIN view_candidate_areas a ON a.candidate_id = o.candidate_id",
    "audience": " LEFT JOIN view_pool_entries pe ON pe.candidate_id = o.candidate_id",
    "source": " LEFT JOIN view_journey_candidates jc ON jc.candidate_id = o.candidate_id",
}
"""The table a dimension reads beside ``view_outreach``, joined only when asked for."""


class Segment(NamedTuple):
    """One row of an engagement report: a combination of dimension values and its rates (a
    named tuple, like ``Rate``: a breakdown can have tens of thousands)."""

    values: dict[str, str | None]
    outreach: int
    """The outreach the rates count: the settled ones (window closed by the report's instant),
    or every one sent by then when the report counts all."""
    response: Rate
    engagement: Rate
    response_hours_median: float | None
    response_hours_p90: float | None
    pending: int = 0
    """Outreach delivered by the report's instant whose window was still open then."""
    sent: int = 0
    """Every outreach sent by then, bounced or not."""
    bounced: int = 0
    """Of those, the ones the channel had reported undelivered by then (not counted)."""

    @property
    def bounce(self) -> Rate:
        """The bounce rate: bounced out of sent."""
        return Rate(self.bounced, self.sent)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.values,
            "outreach": self.outreach,
            "pending": self.pending,
            "sent": self.sent,
            "bounced": self.bounced,
            "bounce": self.bounce.as_dict(),
            "response": self.response.as_dict(),
            "engagement": self.engagement.as_dict(),
            "response_hours_median": self.response_hours_median,
            "response_hours_p90": self.response_hours_p90,
        }


class QuestionProblem(ValueError):
    """A report's parameter that cannot be used; ``field`` names it as the API does (the
    command line says ``--sent-from`` for ``sent_from``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


SETTLED, ALL = "settled", "all"
BASES = (SETTLED, ALL)
"""Which outreach a rate counts: ``settled`` (the default) only outreach whose attribution window
had closed by the report's instant, ``all`` every outreach sent by then (open windows included,
which reads low: their replies may still come)."""


@dataclass(frozen=True, slots=True)
class Selection:
    """Which outreach a report counts, beside its instant and window."""

    basis: str = SETTLED
    where: Mapping[str, str | None] = field(default_factory=dict)
    """Only outreach with these dimension values (None: no value)."""
    sent_from: float | None = None
    sent_until: float | None = None
    """Only outreach sent in this period (a cohort range), both ends included."""

    def __post_init__(self) -> None:
        if self.basis not in BASES:
            raise ValueError(f"unknown basis {self.basis!r}; choose from {', '.join(BASES)}")
        _check_dimensions(list(self.where))
        start, end = self.sent_from, self.sent_until
        if start is not None and end is not None and start > end:
            raise ValueError("the period ends before it starts")

    @property
    def key(self) -> tuple[Any, ...]:
        """For a cache: equal selections, equal keys."""
        return (self.basis, tuple(sorted(self.where.items())), self.sent_from, self.sent_until)

    def as_dict(self) -> dict[str, Any]:
        return {
            "basis": self.basis,
            "where": dict(self.where),
            "sent_from": _iso(self.sent_from),
            "sent_until": _iso(self.sent_until),
        }


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


@dataclass(frozen=True, slots=True)
class CandidateExperience:
    sla_hours: float
    applications: int
    """Applications whose SLA had elapsed by ``as_of`` (applied at least ``sla_hours`` before)."""
    personal_within_sla: Rate
    """Of those, the share that got a personal touch within the SLA."""
    automated_only: int
    """Of those, how many got an automated acknowledgement and no personal touch within it."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "sla_hours": self.sla_hours,
            "applications": self.applications,
            "personal_within_sla": self.personal_within_sla.as_dict(),
            "automated_only": self.automated_only,
        }


def _check_dimensions(by: Sequence[str]) -> None:
    unknown = [name for name in by if name not in DIMENSIONS]
    if unknown:
        raise ValueError(
            f"unknown dimension(s) {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}"
        )


SETTLED_OUTREACH = Selection()
"""Every outreach sent, counted once its window has closed: what reports count by default."""


def engagement_report(
    store: Reader,
    by: Sequence[str],
    as_of: float | None = None,
    window_days: float = 30,
    selection: Selection = SETTLED_OUTREACH,
) -> list[Segment]:
    """Outreach count, response and engagement rates and time to first response, per segment.

    Every outreach is credited independently: its response (engagement) counts when its first
    reply (engaging event) came within ``window_days`` after it, and by ``as_of`` (the current
    time without one). On the settled basis (``selection``), only outreach whose window had
    closed by ``as_of`` is counted; each segment also says how many were still pending.
    """
    _check_dimensions(by)
    filters = selection.where
    basis, sent_from, sent_until = selection.basis, selection.sent_from, selection.sent_until
    if window_days <= 0:
        raise ValueError("the attribution window must be positive")
    at = time.time() if as_of is None else as_of
    window = window_days * DAY
    columns = [DIMENSIONS[name] for name in by]
    join = "".join(_JOINS[name] for name in dict.fromkeys([*by, *filters]) if name in _JOINS)
    # Delivered: not reported bounced by then; settled: its window closed by then.
    delivered = "(o.bounced_at IS NULL OR o.bounced_at > ?)"
    counted, counted_params = (
        (f"{delivered} AND o.sent_at + ? <= ?", [at, window, at])
        if basis == SETTLED
        else (delivered, [at])
    )
    within = "IS NOT NULL AND {0} <= o.sent_at + ? AND {0} <= ?"
    responded = f"{counted} AND o.first_response_at {within.format('o.first_response_at')}"
    engaged = f"{counted} AND o.first_engagement_at {within.format('o.first_engagement_at')}"
    responded_params = [*counted_params, window, at]
    engaged_params = [*counted_params, window, at]
    conditions, where_params = ["o.sent_at <= ?"], [at]
    for name, value in filters.items():
        conditions.append(
            f"{DIMENSIONS[name]} IS NULL" if value is None else f"{DIMENSIONS[name]} = ?"
        )
        where_params += [] if value is None else [value]
    if sent_from is not None:
        conditions.append("o.sent_at >= ?")
        where_params.append(sent_from)
    if sent_until is not None:
        conditions.append("o.sent_at <= ?")
        where_params.append(sent_until)
    where_sql = " WHERE " + " AND ".join(conditions)
    group = f" GROUP BY {', '.join(columns)}" if columns else ""
    head = "".join(f"{c}, " for c in columns)
    measures = (
        f"SELECT {head}SUM(CASE WHEN {counted} THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN {responded} THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN {engaged} THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN {delivered} AND o.sent_at + ? > ? THEN 1 ELSE 0 END),"
        f" COUNT(*), SUM(CASE WHEN NOT {delivered} THEN 1 ELSE 0 END)"
    )
    measure_params = [
        *counted_params, *responded_params, *engaged_params, at, window, at, at,
    ]  # fmt: skip
    width = len(by)
    measured: list[tuple[Any, ...]] = []
    """Per segment: its key, outreach counted, responses, engagements, pending, sent, bounced,
    and the median and 90th percentile of its response delays in hours."""
    if getattr(store, "aggregates_lists", False):
        # One statement: each segment's sorted delays stay in the database, which returns the
        # median and the 90th percentile (``_percentile_sql``), the segments in the report's
        # order (NULL first, then strings by code point, as the sort below orders them).
        ordered = " ORDER BY " + ", ".join(f"{i} NULLS FIRST" for i in range(1, width + 1))
        measured = [
            (row[:width], *row[width:])
            for row in store.query(
                f"SELECT * EXCLUDE (d), {_percentile_sql(50)}, {_percentile_sql(90)}"
                f" FROM ({measures}, list_sort(coalesce(list(o.first_response_at - o.sent_at)"
                f" FILTER (WHERE {responded}), [])) AS d"
                f" FROM view_outreach o{join}{where_sql}{group}){ordered if width else ''}",
                [*measure_params, *responded_params, *where_params],
            )
        ]
    else:
        delays: dict[tuple[Any, ...], list[float]] = defaultdict(list)
        for row in store.query(
            f"SELECT {head}o.first_response_at - o.sent_at FROM view_outreach o{join}"
            f"{where_sql} AND {responded}",
            [*where_params, *responded_params],
        ):
            delays[tuple(row[:-1])].append(float(row[-1]) / HOUR)
        for row in store.query(
            f"{measures} FROM view_outreach o{join}{where_sql}{group}",
            [*measure_params, *where_params],
        ):
            key = tuple(row[:width])
            hours = delays.get(key, [])
            measured.append((key, *row[width:], percentile(hours, 50), percentile(hours, 90)))
    segments = [
        Segment(
            values=dict(zip(by, key, strict=True)),
            outreach=int(n or 0),
            response=Rate(int(responses or 0), int(n or 0)),
            engagement=Rate(int(engagements or 0), int(n or 0)),
            response_hours_median=median,
            response_hours_p90=p90,
            pending=int(pending or 0),
            sent=int(sent or 0),
            bounced=int(bounced or 0),
        )
        for key, n, responses, engagements, pending, sent, bounced, median, p90 in measured
        if sent
    ]
    if not getattr(store, "aggregates_lists", False):
        # NULLs sort differently on SQLite and PostgreSQL: order here, the same on both.
        segments.sort(key=lambda s: tuple((v is not None, v or "") for v in s.values.values()))
    return segments


def _percentile_sql(q: int) -> str:
    """``percentile`` in hours of a segment's sorted response delays (seconds, the list ``d``),
    in DuckDB, with ``interpolated``'s arithmetic step for step (so the same bits)."""
    rank = f"((len(d) - 1) * {q} / 100)"
    low = f"(d[floor({rank})::BIGINT + 1] / {HOUR!r})"
    high = f"(d[least(floor({rank})::BIGINT + 1, len(d) - 1) + 1] / {HOUR!r})"
    return f"CASE WHEN len(d) > 0 THEN {low} + ({high} - {low}) * ({rank} - floor({rank})) END"


def funnel(store: Reader, as_of: float | None = None) -> list[FunnelStage]:
    """Candidates per stage, conversion from the previous stage, and median days in each
    (``projections.journey.funnel_of`` does the arithmetic over the stage entries read here)."""
    where, params = ("", []) if as_of is None else (" WHERE entered_at <= ?", [as_of])
    entered: dict[str, dict[str, float]] = defaultdict(dict)
    for cid, stage, at in store.query(
        f"SELECT candidate_id, stage, entered_at FROM view_stage_entries{where}", params
    ):
        entered[cid][stage] = float(at)
    return funnel_of(entered.values())


def candidate_experience(
    store: Reader, as_of: float | None = None, sla_hours: float = 48
) -> CandidateExperience:
    """Did applicants hear from a person within the SLA, or only from an automation?

    Counts applications (a candidate applying to two positions has two experiences) whose SLA
    had elapsed by ``as_of``; with ``as_of`` None, every application counts (pass the clock's
    "now" for a live reading, so that applications of the last hours are not judged too early).
    """
    sla = sla_hours * HOUR
    where, params = ("", []) if as_of is None else (" WHERE applied_at + ? <= ?", [sla, as_of])
    touched = "first_personal_touch_at IS NOT NULL AND first_personal_touch_at <= applied_at + ?"
    ((n, personal, automated_only),) = store.query(
        f"SELECT COUNT(*), SUM(CASE WHEN {touched} THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN NOT ({touched}) AND automated_ack_at IS NOT NULL"
        " AND automated_ack_at <= applied_at + ? THEN 1 ELSE 0 END)"
        f" FROM view_applications{where}",
        [sla, sla, sla, *params],
    )
    return CandidateExperience(
        sla_hours=sla_hours,
        applications=int(n),
        personal_within_sla=Rate(int(personal or 0), int(n)),
        automated_only=int(automated_only or 0),
    )


def parse_dimensions(text: str) -> list[str]:
    """``status,personalization`` as a list of known dimensions (each once, in order)."""
    by = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    _check_dimensions(by)
    return by


def parse_filters(text: str) -> dict[str, str | None]:
    """``status=passive,channel=email`` as {dimension: value}: only outreach with those values
    (``-`` stands for none, as tables show it)."""
    found: dict[str, str | None] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, equals, value = part.partition("=")
        if not equals or not value.strip():
            raise ValueError(f"expected DIMENSION=VALUE, got {part!r}")
        value = value.strip()
        found[name.strip()] = None if value == "-" else value
    _check_dimensions(list(found))
    return found


@dataclass(frozen=True, slots=True)
class SegmentCandidate:
    """One candidate behind a segment: their CRM reference (nothing personal) and their part."""

    candidate: str | None
    outreach: int
    engaged: int
    last_sent_at: float


def segment_candidates(
    store: Reader,
    where: Mapping[str, str | None],
    as_of: float,
    window_days: float = 30,
    selection: Selection = SETTLED_OUTREACH,
    *,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[SegmentCandidate]]:
    """The candidates a segment's counted outreach went to (the drill-down from a report's
    row): how many there are, and a page of them, most recently contacted first."""
    filters = {**selection.where, **where}
    _check_dimensions(list(filters))
    window = window_days * DAY
    join = "".join(_JOINS[name] for name in filters if name in _JOINS)
    conditions = ["o.sent_at <= ?", "(o.bounced_at IS NULL OR o.bounced_at > ?)"]
    params: list[Any] = [as_of, as_of]
    if selection.basis == SETTLED:
        conditions.append("o.sent_at + ? <= ?")
        params += [window, as_of]
    for name, value in filters.items():
        conditions.append(
            f"{DIMENSIONS[name]} IS NULL" if value is None else f"{DIMENSIONS[name]} = ?"
        )
        params += [] if value is None else [value]
    if selection.sent_from is not None:
        conditions.append("o.sent_at >= ?")
        params.append(selection.sent_from)
    if selection.sent_until is not None:
        conditions.append("o.sent_at <= ?")
        params.append(selection.sent_until)
    engaged = (
        "o.first_engagement_at IS NOT NULL AND o.first_engagement_at <= o.sent_at + ?"
        " AND o.first_engagement_at <= ?"
    )
    grouped = (
        f"SELECT o.candidate_id, COUNT(*) AS n, SUM(CASE WHEN {engaged} THEN 1 ELSE 0 END) AS e,"
        f" MAX(o.sent_at) AS last FROM view_outreach o{join} WHERE {' AND '.join(conditions)}"
        " GROUP BY o.candidate_id"
    )
    head = [window, as_of]
    ((total,),) = store.query(f"SELECT COUNT(*) FROM ({grouped}) g", [*head, *params])
    rows = store.query(
        f"SELECT c.candidate, g.n, g.e, g.last FROM ({grouped}) g"
        " LEFT JOIN view_journey_candidates c ON c.candidate_id = g.candidate_id"
        " ORDER BY g.last DESC, c.candidate LIMIT ? OFFSET ?",
        [*head, *params, limit, offset],
    )
    return int(total), [
        SegmentCandidate(ref, int(n), int(e or 0), float(last)) for ref, n, e, last in rows
    ]

"""Reading the stale-contact alerts: open alerts as of an instant, a candidate's next deadline,
and the raise/clear log a publisher sends on.

Every function takes the instant explicitly (``as_of``, seconds since the epoch): the only clock
read is the command line's default, so any answer can be reproduced for any past date by when
things happened. The log is evaluated from the deadline queue (``view_alert_episodes`` by
``due_at`` and ``resolved_at``) and from the episodes the projection changed since the last run,
never by scanning candidates.

The log's tables live beside the views but are not part of the projection (a rebuild keeps
them): ``view_alert_log`` (what a publisher sends, in ``seq`` order), ``view_alert_raised`` (the
episodes raised and not yet cleared) and ``view_alert_log_cursor`` (how far the log has been
evaluated: ``as_of``, the view's position and version, the last ``seq``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.read.reader import Reader
from infra.read.views import ViewStore
from projections.alert_rules import DEFAULT_RULES
from projections.alerts import (
    CANDIDATES,
    EPISODES,
    WITHDRAWN,
    AlertsProjection,
    open_as_of,
    open_as_of_sql,
)

LOG = "view_alert_log"
CURSOR = "view_alert_log_cursor"
RAISED = "view_alert_raised"
_DESCRIPTIONS = {rule.name: rule.description for rule in DEFAULT_RULES}
_LOG_TABLES = (
    f"CREATE TABLE IF NOT EXISTS {LOG} (seq BIGINT PRIMARY KEY, candidate_id TEXT NOT NULL,"
    " rule TEXT NOT NULL, opened_position BIGINT NOT NULL, action TEXT NOT NULL,"
    " at DOUBLE PRECISION NOT NULL, reason TEXT NOT NULL, as_of DOUBLE PRECISION NOT NULL,"
    " logged_position BIGINT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {CURSOR} (name TEXT PRIMARY KEY, as_of DOUBLE PRECISION NOT NULL,"
    " position BIGINT NOT NULL, version INTEGER NOT NULL, seq BIGINT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {RAISED} (candidate_id TEXT NOT NULL, rule TEXT NOT NULL,"
    " opened_position BIGINT NOT NULL, PRIMARY KEY (candidate_id, rule, opened_position))",
)
_OPEN = open_as_of_sql("e")


def rule_label(rule: str) -> str:
    """A rule as people read it ("engaged candidate without a personal follow-up")."""
    return _DESCRIPTIONS.get(rule) or rule.replace("_", " ")


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def duration_text(seconds: float) -> str:
    """A duration as people say it: hours under two days, days from then on."""
    days = seconds / 86_400
    return f"{days:.0f} days" if days >= 2 else f"{seconds / 3_600:.0f} hours"


@dataclass(frozen=True, slots=True)
class Alert:
    """One open alert: whom to contact, under which rule, and since when it is due."""

    candidate_id: str
    candidate: str | None
    """The CRM's reference of the candidate."""
    recruiter: str | None
    """The candidate's owner at registration."""
    rule: str
    opened_by: str
    """The type of the fact that anchored the episode."""
    anchor_at: datetime
    due_at: datetime
    overdue: timedelta
    reason: str

    def as_record(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "candidate_id": self.candidate_id,
            "recruiter": self.recruiter,
            "rule": self.rule,
            "due_at": self.due_at.isoformat(),
            "anchor_at": self.anchor_at.isoformat(),
            "overdue_days": round(self.overdue.total_seconds() / 86_400, 2),
            "opened_by": self.opened_by,
            "reason": self.reason,
        }


def _built(store: Reader) -> tuple[int, int] | None:
    """(version, position) of the alerts view, or None when it was never built here."""
    rows = store.query(
        "SELECT version, position FROM view_positions WHERE projection = ?",
        (AlertsProjection.name,),
    )
    return (int(rows[0][0]), int(rows[0][1])) if rows else None


def _open_where(as_of: float, rule: str | None, recruiter: str | None) -> tuple[str, list[Any]]:
    sql = (
        f" FROM {EPISODES} e LEFT JOIN {CANDIDATES} c ON c.candidate_id = e.candidate_id"
        f" WHERE {_OPEN}"
    )
    params: list[Any] = [as_of, as_of]
    if rule is not None:
        sql += " AND e.rule = ?"
        params.append(rule)
    if recruiter is not None:
        sql += " AND c.recruiter = ?"
        params.append(recruiter)
    return sql, params


AlertRow = tuple[str, str | None, str | None, str, str, float, float]
"""(candidate_id, candidate, recruiter, rule, opened_by, anchor_at, due_at) of an open episode."""


def alert_from_row(row: AlertRow, as_of: float) -> Alert:
    """An open episode as the alert people read: whom, which rule, due since when, and why."""
    cid, ref, owner, name, opened_by, anchor_at, due_at = row
    what = _DESCRIPTIONS.get(name, name)
    since = _moment(anchor_at).strftime("%Y-%m-%d %H:%M")
    return Alert(
        candidate_id=cid,
        candidate=ref,
        recruiter=owner,
        rule=name,
        opened_by=opened_by,
        anchor_at=_moment(anchor_at),
        due_at=_moment(due_at),
        overdue=timedelta(seconds=as_of - due_at),
        reason=f"{what} for {duration_text(as_of - anchor_at)} (since {opened_by} on"
        f" {since} UTC; due after {duration_text(due_at - anchor_at)})",
    )


def count_open_alerts(
    store: Reader, as_of: float, rule: str | None = None, recruiter: str | None = None
) -> dict[str, int]:
    """How many alerts are open as of ``as_of``, per rule (counted in SQL: no objects built)."""
    if _built(store) is None:
        return {}
    where, params = _open_where(as_of, rule, recruiter)
    rows = store.query(f"SELECT e.rule, COUNT(*){where} GROUP BY e.rule ORDER BY e.rule", params)
    return {str(name): int(count) for name, count in rows}


def open_alerts(
    store: Reader,
    as_of: float,
    rule: str | None = None,
    recruiter: str | None = None,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[Alert]:
    """The alerts open as of ``as_of``, most overdue first (by due time, then candidate);
    ``limit`` and ``offset`` page through them."""
    if _built(store) is None:
        return []
    where, params = _open_where(as_of, rule, recruiter)
    sql = (
        "SELECT e.candidate_id, c.candidate, c.recruiter, e.rule, e.opened_by, e.anchor_at,"
        f" e.due_at{where} ORDER BY e.due_at, c.candidate, e.rule"
    )
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    return [alert_from_row(row, as_of) for row in store.query(sql, params)]


@dataclass(frozen=True, slots=True)
class Deadline:
    """A journey's next due action: the rule, when it falls due and whether it is overdue."""

    rule: str
    due_at: datetime
    anchor_at: datetime
    overdue: bool

    @property
    def text(self) -> str:
        state = "overdue since" if self.overdue else "due"
        return f"{rule_label(self.rule)}: {state} {self.due_at:%Y-%m-%d %H:%M} UTC"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "label": rule_label(self.rule),
            "due_at": self.due_at.isoformat(),
            "anchor_at": self.anchor_at.isoformat(),
            "overdue": self.overdue,
            "text": self.text,
        }


def next_deadline(store: ViewStore, candidate_id: str, as_of: float) -> Deadline | None:
    """The earliest due time among the candidate's episodes unresolved as of ``as_of``."""
    if _built(store) is None:
        return None
    rows = store.query(
        f"SELECT rule, due_at, anchor_at FROM {EPISODES} WHERE candidate_id = ?"
        " AND anchor_at <= ? AND (resolved_at IS NULL OR resolved_at > ?)"
        " ORDER BY due_at, rule LIMIT 1",
        (candidate_id, as_of, as_of),
    )
    if not rows:
        return None
    rule, due_at, anchor_at = rows[0]
    return Deadline(rule, _moment(due_at), _moment(anchor_at), due_at <= as_of)


# --- the raise/clear log ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    """One line of the alert log: an alert raised (at its due time) or cleared (and why)."""

    seq: int
    candidate_id: str
    rule: str
    opened_position: int
    action: str
    """``raised`` or ``cleared``."""
    at: float
    """The due time of a raise; the occurred time of what cleared it (else the evaluation's)."""
    reason: str
    as_of: float
    logged_position: int
    """The alerts view's ledger position when this was logged."""


class AlertLogBehind(RuntimeError):
    """The alerts view is behind what the log has already seen (being rebuilt?): catch up."""


Episode = tuple[Any, ...]
"""(candidate_id, rule, opened_position, due_at, resolved_at, resolution, raised 0/1)."""

_SELECT = (
    "SELECT e.candidate_id, e.rule, e.opened_position, e.due_at, e.resolved_at, e.resolution,"
    f" CASE WHEN r.rule IS NULL THEN 0 ELSE 1 END FROM {EPISODES} e LEFT JOIN {RAISED} r"
    " ON r.candidate_id = e.candidate_id AND r.rule = e.rule"
    " AND r.opened_position = e.opened_position WHERE "
)


def record_transitions(
    store: ViewStore, as_of: float, *, incremental: bool = True
) -> list[Transition]:
    """Log what was raised and cleared since the last evaluation, up to ``as_of``; all or nothing.

    Raised: an episode open as of ``as_of`` that is not raised yet. Cleared: a raised episode that
    is no longer open (resolved, withdrawn by a late fact, or gone with a change of rules). The
    log, the set of raised episodes and the cursor commit in one transaction; running it again
    for the same ``as_of`` with nothing new recorded logs nothing.

    ``incremental`` finds the changed episodes by the ledger position they changed at, which
    only works when facts arrive in ledger order (the ledger follower). Views fed from Kafka
    partitions move at each partition's own pace, so they compare every open episode with every
    raised one instead (``incremental=False``).
    """
    built = _built(store)
    if built is None:
        raise AlertLogBehind("the alerts view has not been built: catch the views up first")
    version, position = built
    ensure_log_tables(store)
    with store.transaction() as cur:

        def rows(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            cur.execute(store.sql(sql), params)
            return [tuple(row) for row in cur.fetchall()]

        cursor = rows(f"SELECT as_of, position, version, seq FROM {CURSOR} WHERE name = 'alerts'")
        done_as_of, done_position, done_version, seq = cursor[0] if cursor else (0.0, 0, None, 0)
        if cursor:
            if as_of < done_as_of:
                raise ValueError(
                    f"the alert log was evaluated up to {_moment(done_as_of).isoformat()};"
                    " it only moves forward"
                )
            if position < done_position:
                raise AlertLogBehind(
                    f"the alerts view is at position {position}, the log at {done_position}"
                )
        found: dict[tuple[Any, ...], Episode] = {}
        if not cursor or done_version != version or not incremental:
            # First run, or other rules: compare every open episode with every raised one.
            for row in rows(_SELECT + _OPEN, (as_of, as_of)):
                found[row[:3]] = row
            for key in rows(f"SELECT candidate_id, rule, opened_position FROM {RAISED}"):
                if key not in found:
                    found[key] = _episode(rows, key)
        else:
            queries = (
                ("e.due_at > ? AND e.due_at <= ?", (done_as_of, as_of)),
                ("e.resolved_at > ? AND e.resolved_at <= ? AND r.rule IS NOT NULL",
                 (done_as_of, as_of)),
                ("e.changed_position > ?", (done_position,)),
            )  # fmt: skip
            for where, params in queries:
                for row in rows(_SELECT + where, params):
                    found[row[:3]] = row
        logged = _transitions(found.values(), as_of)
        written: list[Transition] = []
        for number, (episode, action, at, reason) in enumerate(logged, start=seq + 1):
            cid, rule, opened = episode[:3]
            written.append(
                Transition(number, cid, rule, opened, action, at, reason, as_of, position)
            )
            if action == "raised":
                cur.execute(
                    store.sql(f"INSERT INTO {RAISED} VALUES (?, ?, ?)"), (cid, rule, opened)
                )
            else:
                cur.execute(
                    store.sql(
                        f"DELETE FROM {RAISED} WHERE candidate_id = ? AND rule = ?"
                        " AND opened_position = ?"
                    ),
                    (cid, rule, opened),
                )
        if written:
            cur.executemany(
                store.sql(f"INSERT INTO {LOG} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                [
                    (t.seq, t.candidate_id, t.rule, t.opened_position, t.action, t.at, t.reason,
                     t.as_of, t.logged_position)
                    for t in written
                ],
            )  # fmt: skip
        last = written[-1].seq if written else seq
        if cursor:
            cur.execute(
                store.sql(
                    f"UPDATE {CURSOR} SET as_of = ?, position = ?, version = ?, seq = ?"
                    " WHERE name = 'alerts' AND seq = ?"
                ),
                (as_of, position, version, last, seq),
            )
            if cur.rowcount != 1:
                raise AlertLogBehind("another process logged alerts meanwhile: nothing written")
        else:
            cur.execute(
                store.sql(f"INSERT INTO {CURSOR} VALUES ('alerts', ?, ?, ?, ?)"),
                (as_of, position, version, last),
            )
    return written


def ensure_log_tables(store: ViewStore) -> None:
    with store.transaction() as cur:
        store.serialise_schema_changes(cur)
        for statement in _LOG_TABLES:
            cur.execute(statement)


def _episode(rows: Any, key: tuple[Any, ...]) -> Episode:
    """A raised episode's current row; a key alone (still raised) when its row is gone."""
    found = rows(_SELECT + "e.candidate_id = ? AND e.rule = ? AND e.opened_position = ?", key)
    return found[0] if found else (*key, None, None, None, 1)


def _transitions(
    episodes: Iterable[Episode], as_of: float
) -> list[tuple[Episode, str, float, str]]:
    """What changed for these episodes: (episode, action, at, reason), in the log's order."""
    changes = []
    for episode in episodes:
        _cid, rule, _opened, due_at, resolved_at, resolution, raised = episode
        is_open = open_as_of(due_at, resolved_at, as_of)
        if is_open and not raised:
            what = _DESCRIPTIONS.get(rule, rule)
            changes.append((episode, "raised", float(due_at), what))
        elif raised and not is_open:
            if resolution is None or resolution == WITHDRAWN or resolved_at is None:
                reason = resolution or ("not due yet" if due_at is not None else WITHDRAWN)
                changes.append((episode, "cleared", float(as_of), reason))
            else:
                changes.append((episode, "cleared", float(resolved_at), resolution))
    changes.sort(key=lambda change: (change[2], change[0][0], change[0][1], change[0][2]))
    return changes

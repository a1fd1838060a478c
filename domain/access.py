"""Who may do what: the roles of Rapport's users and the operations each role is allowed.

Compliance work (the audit export, the subject-access export, erasure) is kept apart from
recruiting work, so that a recruiter can never erase a contact history or export a person's
data, and a compliance officer exports and erases without recording touchpoints. The HTTP layer
checks every request against ``may``; the command line runs with the database's own
credentials and is for operators who already hold them, so there the operator says what they
act as (``--allow-erasures``), and the inbound topic records erasures only when a setting says
so. What a touchpoint amounts to is decided by its type (``operation_recording``), wherever it
enters: an erasure needs the compliance role, whichever door it comes through.
"""

from __future__ import annotations

from enum import StrEnum


class UserRole(StrEnum):
    VIEWER = "viewer"
    """Ops dashboards: metrics, journeys, alerts."""
    RECRUITER = "recruiter"
    """Records touchpoints, and reads what a viewer reads."""
    COMPLIANCE = "compliance"
    """Audits, exports and erases, and reads what a viewer reads."""


class Operation(StrEnum):
    READ_METRICS = "read_metrics"
    READ_JOURNEYS = "read_journeys"
    READ_ALERTS = "read_alerts"
    READ_MATCHES = "read_matches"
    RECORD_TOUCHPOINTS = "record_touchpoints"
    EXPORT_CONTACT_HISTORY = "export_contact_history"
    EXPORT_SUBJECT_ACCESS = "export_subject_access"
    VERIFY_LEDGER = "verify_ledger"
    READ_REFUSALS = "read_refusals"
    ERASE_CANDIDATE = "erase_candidate"


_READING = frozenset(
    {
        Operation.READ_METRICS,
        Operation.READ_JOURNEYS,
        Operation.READ_ALERTS,
        Operation.READ_MATCHES,
    }
)
COMPLIANCE_OPERATIONS = frozenset(
    {
        Operation.EXPORT_CONTACT_HISTORY,
        Operation.EXPORT_SUBJECT_ACCESS,
        Operation.VERIFY_LEDGER,
        Operation.READ_REFUSALS,
        Operation.ERASE_CANDIDATE,
    }
)

PERMISSIONS: dict[UserRole, frozenset[Operation]] = {
    UserRole.VIEWER: _READING,
    UserRole.RECRUITER: _READING | {Operation.RECORD_TOUCHPOINTS},
    UserRole.COMPLIANCE: _READING | COMPLIANCE_OPERATIONS,
}


def may(role: UserRole, operation: Operation) -> bool:
    return operation in PERMISSIONS[role]


ERASURE = "erasure_requested"
"""The one touchpoint that is irreversible: recording it destroys the candidate's key."""


def operation_recording(touchpoint_type: str) -> Operation:
    """What recording a touchpoint of this type amounts to.

    An erasure is an erasure however it arrives (its own endpoint, a touchpoint request, an
    import line, a topic message), so it needs the compliance role everywhere; every other
    touchpoint is recruiting work.
    """
    return Operation.ERASE_CANDIDATE if touchpoint_type == ERASURE else Operation.RECORD_TOUCHPOINTS


def may_record(roles: frozenset[UserRole] | set[UserRole], touchpoint_type: str) -> bool:
    """Whether someone acting with ``roles`` may record a touchpoint of this type."""
    needed = operation_recording(touchpoint_type)
    return any(may(role, needed) for role in roles)


def records_anything(role: UserRole) -> bool:
    """Whether the role may record some touchpoint (and so reach the capture endpoints)."""
    return may(role, Operation.RECORD_TOUCHPOINTS) or may(role, Operation.ERASE_CANDIDATE)


class NotPermitted(Exception):
    """Someone tried to record what their role does not allow (nothing was recorded)."""

    def __init__(self, index: int, touchpoint_type: str) -> None:
        needed = operation_recording(touchpoint_type)
        holders = [role.value for role in UserRole if may(role, needed)]
        self.index = index
        self.touchpoint_type = touchpoint_type
        self.field = "type"
        self.message = (
            f"{with_article(touchpoint_type)} may be recorded only with the"
            f" {' or '.join(holders)} role"
        )
        super().__init__(self.message)


def with_article(word: str) -> str:
    """``word`` after the article English puts before it, chosen by its first letter ("an
    erasure_requested", "a shortlisted"): right for every type name, which is all it is for."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"

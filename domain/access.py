"""Who may do what: the roles of Rapport's users and the operations each role is allowed.

Compliance work (the audit export, the subject-access export, erasure) is kept apart from
recruiting work, so that a recruiter can never erase a contact history or export a person's
data, and a compliance officer exports and erases without recording touchpoints. The HTTP layer
checks every request against ``may``; the command line runs with the database's own
credentials and is for operators who already hold them.
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
    RECORD_TOUCHPOINTS = "record_touchpoints"
    EXPORT_CONTACT_HISTORY = "export_contact_history"
    EXPORT_SUBJECT_ACCESS = "export_subject_access"
    VERIFY_LEDGER = "verify_ledger"
    READ_REFUSALS = "read_refusals"
    ERASE_CANDIDATE = "erase_candidate"


_READING = frozenset({Operation.READ_METRICS, Operation.READ_JOURNEYS, Operation.READ_ALERTS})
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

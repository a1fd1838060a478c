"""Why the ledger refuses a touchpoint: the business rules, as errors a recruiter can read."""


class Refused(Exception):
    """A touchpoint the business rules do not allow; nothing was recorded."""

    code = "refused"
    field = "type"
    """The field of the touchpoint the refusal is about, so an import error can point at it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownCandidate(Refused):
    code = "unknown_candidate"
    field = "candidate"


class AlreadyRegistered(Refused):
    code = "already_registered"
    field = "candidate"


class CandidateErased(Refused):
    code = "candidate_erased"
    field = "candidate"


class ConsentWithdrawn(Refused):
    """The candidate opted out (or asked not to be contacted) before this contact."""

    code = "consent_withdrawn"
    field = "occurred_at"


class FrequencyCapExceeded(Refused):
    code = "frequency_cap_exceeded"
    field = "occurred_at"


class StageTransitionRefused(Refused):
    code = "stage_transition_refused"
    field = "position"


class OccurredInTheFuture(Refused):
    code = "occurred_in_the_future"
    field = "occurred_at"


class UnknownPosition(Refused):
    code = "unknown_position"
    field = "position"


class PositionNotOpen(Refused):
    """The position is filled or closed (or already open, for an opening)."""

    code = "position_not_open"
    field = "position"


class PositionUpdateInvalid(Refused):
    """An update that would leave the position breaking the rules of an opening."""

    code = "position_update_invalid"
    field = "type"

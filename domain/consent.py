"""Consent: what a candidate has agreed to, at any moment of their history.

Consent is given (``consent_given``), withdrawn (``opted_out`` with the scope ``opt_out``) or
closed entirely (``opted_out`` with the scope ``do_not_contact``); each is an event. The state
at a moment is the last change that happened at or before it (a later consent lifts an earlier
opt-out), so a back-dated opt-out counts from when the candidate actually said it.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.vocabulary import ConsentBasis, OptOutScope


class ConsentState(StrEnum):
    NOT_RECORDED = "not_recorded"
    """Nothing said yet: contact rests on the basis the firm registered the candidate under."""
    GIVEN = "given"
    WITHDRAWN = "withdrawn"
    DO_NOT_CONTACT = "do_not_contact"

    @property
    def forbids_contact(self) -> bool:
        return self in (ConsentState.WITHDRAWN, ConsentState.DO_NOT_CONTACT)


@dataclass(frozen=True, slots=True)
class ConsentAt:
    state: ConsentState
    basis: ConsentBasis | None = None
    since: datetime | None = None
    """When the change in force happened (None while nothing is recorded)."""

    def __str__(self) -> str:
        if self.state is ConsentState.GIVEN and self.basis is not None:
            return f"given ({self.basis.value})"
        return self.state.value


NOTHING_RECORDED = ConsentAt(ConsentState.NOT_RECORDED)


@dataclass(slots=True)
class ConsentHistory:
    """Every consent change of one candidate, kept in the order they happened."""

    _changes: list[tuple[datetime, int, ConsentAt]] = field(default_factory=list)

    def given(self, moment: datetime, basis: ConsentBasis) -> None:
        self._add(ConsentAt(ConsentState.GIVEN, basis, moment))

    def opted_out(self, moment: datetime, scope: OptOutScope) -> None:
        state = (
            ConsentState.DO_NOT_CONTACT
            if scope is OptOutScope.DO_NOT_CONTACT
            else ConsentState.WITHDRAWN
        )
        self._add(ConsentAt(state, None, moment))

    def at(self, moment: datetime) -> ConsentAt:
        """The consent in force at ``moment`` (changes at that very instant included)."""
        index = bisect_right(self._changes, (moment, float("inf")), key=_order)
        return self._changes[index - 1][2] if index else NOTHING_RECORDED

    def _add(self, change: ConsentAt) -> None:
        assert change.since is not None
        insort(self._changes, (change.since, len(self._changes), change), key=_order)


def _order(change: tuple[datetime, float, object]) -> tuple[datetime, float]:
    return change[0], change[1]

"""The stale-contact rules: when silence about a candidate becomes an alert.

A rule watches one kind of *episode* per candidate: something opens it at an anchor instant (the
trigger), something the recruiters do clears it, and if nothing clears it within the rule's
period the episode is an open alert from ``anchor + period`` (its due time) until it clears. What
opens and clears an episode is the business logic in ``projections/alerts.py``; the periods, and
whether a rule runs at all, are settings, because firms differ in how patient they can be.

Defaults are built in. ``RAPPORT_ALERT_RULES`` may name a TOML file that overrides them (read
at the edge, ``infra.core.alert_rules_file``; parsed here by ``rules_from``); every key is
optional, a rule not mentioned keeps its defaults::

    # rapport-alerts.toml
    [rules.talent_pool_without_personal_touch]
    period_days = 60              # a warmer pool than the default 90 days

    [rules.applicant_only_automated_ack]
    period_hours = 24             # a period in days or in hours (one of them), > 0
    suppressed_by_opt_out = true  # no applicant alerts about candidates who opted out either

    [rules.shortlisted_without_update]
    enabled = false               # this firm tracks shortlists elsewhere

Keys per rule: ``enabled``, ``period_days`` or ``period_hours``, ``suppressed_by_opt_out`` (true:
an opt-out closes the rule's open episode with reason "opted out" and opens none until consent is
given again; the defaults say true for the pool and follow-up rules, whose remedy is outreach the
ledger refuses after an opt-out, and false for the applicant and shortlist rules, because
acknowledging an application and the hiring process the candidate takes part in stay allowed).

Unknown rules, unknown keys and bad values are refused with the key named
(``rules.applicant_only_automated_ack.period_hours: expected a number > 0, got 'soon'``).
Changing a period changes every episode's due time, so the alerts view rebuilds itself when the
rules change (``AlertRules.fingerprint`` is part of its version).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

DAY = 86_400.0
HOUR = 3_600.0

POOL = "talent_pool_without_personal_touch"
ENGAGED = "engaged_without_follow_up"
APPLICANT = "applicant_only_automated_ack"
SHORTLISTED = "shortlisted_without_update"
ENRICHED = "enrichment_without_congratulation"
FOLLOW_UP = "not_now_follow_up_due"

CONGRATULATED = frozenset({"promotion", "certification"})
"""The profile changes a recruiter congratulates (a move to another employer is not one)."""


class AlertRulesError(ValueError):
    """The rules file cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class AlertRule:
    name: str
    description: str
    """What the open alert means, in a recruiter's words."""
    trigger: str
    """What opens an episode (and sets its anchor)."""
    clears: str
    """What resolves an episode."""
    period: float
    """Seconds from the anchor to the due time."""
    suppressed_by_opt_out: bool = True
    """The remedy is outreach an opt-out forbids (outreach, content, notes), so an opted-out
    candidate gets no episode and an opt-out closes an open one. Acknowledging an application
    and the hiring process the candidate takes part in are still allowed after an opt-out."""
    enabled: bool = True


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(
        name=POOL,
        description="talent-pool member without a personal touch",
        trigger="joining a talent pool, each personal touch while a member, or consent given"
        " again after an opt-out (anchor = the latest of these)",
        clears="a personal touch (which opens the next episode), leaving every pool, a hire,"
        " an opt-out, an erasure",
        period=90 * DAY,
    ),
    AlertRule(
        name=ENGAGED,
        description="engaged candidate without a personal follow-up",
        trigger="an engaging reply (interested, not now) or a call held, while no episode is open",
        clears="a personal touch after it, a hire, an opt-out, an erasure",
        period=7 * DAY,
    ),
    AlertRule(
        name=APPLICANT,
        description="applicant with only an automated acknowledgement (or none)",
        trigger="an application, while no episode is open",
        clears="a personal touch (a personal acknowledgement, a call, a note...), a hire,"
        " an erasure",
        period=48 * HOUR,
        suppressed_by_opt_out=False,
    ),
    AlertRule(
        name=SHORTLISTED,
        description="shortlisted candidate without any update",
        trigger="a shortlisting or an interview scheduled, and each touch from us while in the"
        " process (anchor = the latest of these)",
        clears="any touch from us, by a recruiter or an automation (which opens the next"
        " episode), a hire, the offer declined, an erasure",
        period=5 * DAY,
        suppressed_by_opt_out=False,
    ),
    AlertRule(
        name=ENRICHED,
        description="pool member's promotion or new certification without a personal note",
        trigger="a promotion or a certification noticed (profile_enriched) while in a talent"
        " pool, while no episode is open",
        clears="a personal note, leaving every pool, a hire, an opt-out, an erasure",
        period=14 * DAY,
    ),
    AlertRule(
        name=FOLLOW_UP,
        description="candidate's own follow-up date passed without a personal touch",
        trigger="a not_now reply naming a follow_up_on date, while no episode is open (due at"
        " the start of that day + the period: by default its end)",
        clears="a personal touch after the reply, a hire, an opt-out, an erasure",
        period=1 * DAY,
    ),
)


@dataclass(frozen=True, slots=True)
class AlertRules:
    """Every known rule, enabled or not, in a fixed order."""

    rules: tuple[AlertRule, ...] = DEFAULT_RULES

    def __iter__(self) -> Iterator[AlertRule]:
        return iter(self.rules)

    def __getitem__(self, name: str) -> AlertRule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.rules)

    @property
    def fingerprint(self) -> int:
        """0 for the defaults; otherwise a number that changes with any period or switch."""
        if self.rules == DEFAULT_RULES:
            return 0
        text = ";".join(
            f"{r.name}:{r.period!r}:{r.enabled}:{r.suppressed_by_opt_out}" for r in self.rules
        )
        return zlib.crc32(text.encode()) % 1_000_000 + 1


def rules_from(document: Mapping[str, Any]) -> AlertRules:
    """The defaults with a parsed TOML document's overrides applied."""
    unknown = set(document) - {"rules"}
    if unknown:
        raise AlertRulesError(f"{sorted(unknown)[0]}: unknown section (expected [rules.NAME])")
    overrides = document.get("rules", {})
    if not isinstance(overrides, dict):
        raise AlertRulesError("rules: expected tables like [rules.NAME]")
    by_name = {rule.name: rule for rule in DEFAULT_RULES}
    for name, settings in overrides.items():
        if name not in by_name:
            raise AlertRulesError(f"rules.{name}: unknown rule (known: {', '.join(by_name)})")
        if not isinstance(settings, dict):
            raise AlertRulesError(f"rules.{name}: expected a table of settings")
        by_name[name] = _override(by_name[name], settings)
    return AlertRules(tuple(by_name.values()))


def _override(rule: AlertRule, settings: Mapping[str, Any]) -> AlertRule:
    where = f"rules.{rule.name}"
    known = ("enabled", "period_days", "period_hours", "suppressed_by_opt_out")
    for key in settings:
        if key not in known:
            raise AlertRulesError(f"{where}.{key}: unknown setting (expected {', '.join(known)})")
    if "period_days" in settings and "period_hours" in settings:
        raise AlertRulesError(f"{where}.period_hours: give period_days or period_hours, not both")
    changes: dict[str, Any] = {}
    for switch in ("enabled", "suppressed_by_opt_out"):
        if switch in settings:
            if not isinstance(settings[switch], bool):
                raise AlertRulesError(
                    f"{where}.{switch}: expected true or false, got {settings[switch]!r}"
                )
            changes[switch] = settings[switch]
    for key, unit in (("period_days", DAY), ("period_hours", HOUR)):
        if key in settings:
            value = settings[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise AlertRulesError(f"{where}.{key}: expected a number > 0, got {value!r}")
            changes["period"] = float(value) * unit
    return replace(rule, **changes)

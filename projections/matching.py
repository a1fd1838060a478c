"""Who in the pool fits a position, and why: the matching formula, term by term.

No black box. A candidate passes the hard filters or is not listed at all; then each term gives
points, and the score is their sum, so every score is explained by the terms that make it:

* **fit**: the role, the share of the position's therapeutic areas and trial phases they have
  worked in, the share of its required and preferred certifications they hold, their years
  against its minimum, and its country (a remote position fits anywhere);
* **warmth**: their last engagement and their last personal touch, each worth its full weight
  on the day and half as much every ``half_life_days`` after.

Points are counted in hundredths (integers), so the terms add up to the score exactly. The
formula is stated once, as SQL over the pool view (``term_sql``), and run by whichever engine
holds the view (SQLite, PostgreSQL, DuckDB); ``explain`` says in words what each term found.
The weights are the deployment's (``weights_from``: a TOML file, ``RAPPORT_MATCH_WEIGHTS``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from projections.pool import AREA_BITS, CERTIFICATION_BITS, ENDED, PHASE_BITS, members

DAY = 86_400.0


class MatchWeightsError(ValueError):
    """A weights file that names an unknown term or a value that is not a number >= 0."""


@dataclass(frozen=True, slots=True)
class Weights:
    """Each term's full points, and the limits of the hard filters (days)."""

    role: float = 30.0
    areas: float = 20.0
    phases: float = 10.0
    required_certifications: float = 20.0
    preferred_certifications: float = 5.0
    years: float = 10.0
    country: float = 5.0
    engagement: float = 15.0
    personal_touch: float = 10.0
    half_life_days: float = 90.0
    """After this many days a warmth term is worth half its weight."""
    hired_within_days: float = 180.0
    """Someone hired less than this long ago is not offered another position."""
    process_days: float = 60.0
    """A hiring process that moved less than this long ago, and neither ended in a hire nor a
    declined offer, is live: its candidate is not offered another position meanwhile."""


TERMS = (
    "role",
    "areas",
    "phases",
    "required_certifications",
    "preferred_certifications",
    "years",
    "country",
    "engagement",
    "personal_touch",
)
"""The terms, in the order an explanation lists them: fit first, then warmth."""


def weights_from(document: Mapping[str, Any]) -> Weights:
    """The defaults with a parsed TOML document's ``[weights]`` overrides applied."""
    unknown = set(document) - {"weights"}
    if unknown:
        raise MatchWeightsError(f"{sorted(unknown)[0]}: unknown section (expected [weights])")
    overrides = document.get("weights", {})
    if not isinstance(overrides, dict):
        raise MatchWeightsError("weights: expected a table of numbers")
    known = {field.name for field in fields(Weights)}
    changes: dict[str, float] = {}
    for key, value in overrides.items():
        if key not in known:
            raise MatchWeightsError(
                f"weights.{key}: unknown term (known: {', '.join(sorted(known))})"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise MatchWeightsError(f"weights.{key}: expected a number >= 0, got {value!r}")
        changes[key] = float(value)
    if changes.get("half_life_days", 1.0) == 0:
        raise MatchWeightsError("weights.half_life_days: expected a number > 0, got 0")
    return replace(Weights(), **changes)


@dataclass(frozen=True, slots=True)
class Opening:
    """What a position asks for, as matching reads it (``domain.position``'s spec)."""

    requisition: str
    role: str
    areas: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    preferred: tuple[str, ...] = ()
    country: str | None = None
    remote: bool = False
    min_years: int | None = None


def _share(column: str, wanted: Sequence[str], of: dict[str, int]) -> str:
    """SQL: the share of the ``wanted`` values whose bit is set in ``column``."""
    held = " + ".join(
        f"(CASE WHEN ({column} & {of[value]}) <> 0 THEN 1 ELSE 0 END)" for value in wanted
    )
    return f"(({held}) * 1.0 / {len(wanted)})"


def _warmth(column: str, now: float, half_life_days: float) -> str:
    """SQL: 1 on the day of ``column``'s moment, halving every ``half_life_days``; 0 never."""
    return (
        f"(CASE WHEN {column} IS NULL THEN 0.0 WHEN {column} >= {now!r} THEN 1.0"
        f" ELSE power(0.5, ({now!r} - {column}) / {half_life_days * DAY!r}) END)"
    )


def fractions_sql(opening: Opening, weights: Weights, now: float) -> dict[str, str | None]:
    """Each term as an SQL expression of the pool view's columns giving a share from 0 to 1,
    or None when the position asks nothing of it (the term then gives 0 to everyone). Every
    value in the SQL is the catalogue's or a number; the only text from outside (role,
    country) goes in as a parameter, see ``term_sql``."""
    return {
        "role": "(CASE WHEN role = ? THEN 1.0 ELSE 0.0 END)",
        "areas": _share("areas", opening.areas, AREA_BITS) if opening.areas else None,
        "phases": _share("phases", opening.phases, PHASE_BITS) if opening.phases else None,
        "required_certifications": (
            _share("certifications", opening.required, CERTIFICATION_BITS)
            if opening.required
            else None
        ),
        "preferred_certifications": (
            _share("certifications", opening.preferred, CERTIFICATION_BITS)
            if opening.preferred
            else None
        ),
        "years": (
            f"(CASE WHEN years IS NULL THEN 0.0 WHEN years >= {opening.min_years}"
            f" THEN 1.0 ELSE years * 1.0 / {opening.min_years} END)"
            if opening.min_years
            else None
        ),
        "country": None if opening.remote else "(CASE WHEN country = ? THEN 1.0 ELSE 0.0 END)",
        "engagement": _warmth("last_engagement", now, weights.half_life_days),
        "personal_touch": _warmth("last_personal_touch", now, weights.half_life_days),
    }


def term_sql(opening: Opening, weights: Weights, now: float) -> tuple[list[str], list[Any]]:
    """Each term's points in hundredths, as SQL expressions (in ``TERMS`` order), and the
    parameters they take, in order."""
    expressions, params = [], []
    for name, fraction in fractions_sql(opening, weights, now).items():
        if fraction is None:
            expressions.append("0")
            continue
        hundredths = getattr(weights, name) * 100
        expressions.append(f"CAST(FLOOR({hundredths!r} * {fraction} + 0.5) AS INTEGER)")
        if name == "role":
            params.append(opening.role)
        elif name == "country":
            params.append(opening.country)
    return expressions, params


@dataclass(frozen=True, slots=True)
class Term:
    name: str
    points: float
    why: str


def _listed(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "none"


def _share_why(held: Sequence[str], wanted: Sequence[str], what: str) -> str:
    """``what``: the kind of value (``trial phase``), or for certifications how the position
    wants them (``required``)."""
    if not wanted:
        if what in ("required", "preferred"):
            return f"the position names none {what}"
        return f"the position names no {what}"
    have = [value for value in wanted if value in held]
    missing = [value for value in wanted if value not in held]
    said = f"{len(have)} of {len(wanted)}: {_listed(have)}"
    return f"{said} (missing {_listed(missing)})" if missing else said


def _days_ago(moment: float | None, now: float, what: str) -> str:
    if moment is None:
        return f"never {what}"
    days = max(0.0, (now - moment) / DAY)
    return f"{what} {days:.0f} days ago"


def explain(
    row: Mapping[str, Any], points: Sequence[int], opening: Opening, now: float
) -> list[Term]:
    """Each term's points and what it found, in words (``points`` in hundredths, in ``TERMS``
    order, as ``term_sql`` computed them)."""
    areas = members(row["areas"] or 0, AREA_BITS)
    phases = members(row["phases"] or 0, PHASE_BITS)
    certifications = members(row["certifications"] or 0, CERTIFICATION_BITS)
    years = row["years"]
    why = {
        "role": (
            f"{row['role']}, as asked"
            if row["role"] == opening.role
            else f"{row['role']}, not {opening.role}"
        ),
        "areas": _share_why(areas, opening.areas, "therapeutic area"),
        "phases": _share_why(phases, opening.phases, "trial phase"),
        "required_certifications": _share_why(certifications, opening.required, "required"),
        "preferred_certifications": _share_why(certifications, opening.preferred, "preferred"),
        "years": (
            "the position asks no minimum"
            if not opening.min_years
            else "years not recorded"
            if years is None
            else f"{years} years for a minimum of {opening.min_years}"
        ),
        "country": (
            "a remote position"
            if opening.remote
            else f"{row['country'] or 'country not recorded'}"
            + ("" if row["country"] == opening.country else f", not {opening.country}")
        ),
        "engagement": _days_ago(row["last_engagement"], now, "engaged"),
        "personal_touch": _days_ago(row["last_personal_touch"], now, "personally touched"),
    }
    return [Term(name, p / 100, why[name]) for name, p in zip(TERMS, points, strict=True)]


def live_elsewhere(
    processes: Mapping[str, list[Any]], requisition: str, now: float, weights: Weights
) -> str | None:
    """The position of a live hiring process other than ``requisition``, if any: one that moved
    within ``process_days`` and has not ended."""
    since = now - weights.process_days * DAY
    for position, (at, stage) in sorted(processes.items()):
        if position != requisition and stage not in ENDED and since <= at <= now:
            return position
    return None

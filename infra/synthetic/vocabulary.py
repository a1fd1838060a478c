"""The synthetic world's vocabulary: roles, therapeutic areas, certifications, countries, names,
channels and content, weighted as the ground truth says, and the field names of each touchpoint."""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Mapping
from random import Random
from typing import Any, Generic, TypeVar

from infra.synthetic.truth import ACTIVE, BLAST, GROUND_TRUTH, PASSIVE, PERSONALIZED, TEMPLATED

# --- vocabulary of the synthetic world -------------------------------------------------------

Item = TypeVar("Item")


class _Weighted(Generic[Item]):
    """A fast weighted choice (``Random.choices`` is slow for millions of draws)."""

    def __init__(self, weights: Mapping[Item, float]) -> None:
        self.items = list(weights)
        self.cumulative = list(itertools.accumulate(weights.values()))
        self.total = self.cumulative[-1]

    def pick(self, rng: Random) -> Item:
        return self.items[bisect_right(self.cumulative, rng.random() * self.total)]


OUTREACH_MIX = {s: _Weighted(mix) for s, mix in GROUND_TRUTH.outreach_mix.items()}
ENRICHMENT_KINDS = _Weighted(GROUND_TRUTH.enrichment_kinds)
CLOSE_REASONS = _Weighted(GROUND_TRUTH.position_close_reasons)

ROLES = _Weighted(
    {
        "cra": 0.28,
        "crc": 0.22,
        "clinical_research_nurse": 0.14,
        "project_manager": 0.10,
        "data_manager": 0.09,
        "regulatory_specialist": 0.06,
        "biostatistician": 0.04,
        "medical_monitor": 0.03,
        "other": 0.04,
    }
)
ROLE_SLUG = {
    "cra": "cra",
    "crc": "crc",
    "clinical_research_nurse": "crn",
    "project_manager": "pm",
    "data_manager": "dm",
    "regulatory_specialist": "reg",
    "biostatistician": "biostat",
    "medical_monitor": "mm",
    "other": "other",
}
ROLE_TITLE = {
    "cra": "CRA",
    "crc": "CRC",
    "clinical_research_nurse": "clinical research nurse",
    "project_manager": "clinical project manager",
    "data_manager": "clinical data manager",
    "regulatory_specialist": "regulatory specialist",
    "biostatistician": "biostatistician",
    "medical_monitor": "medical monitor",
    "other": "clinical research",
}
CERTIFICATIONS = {
    "cra": ("acrp_ccra", "socra_ccrp", "gcp"),
    "crc": ("acrp_ccrc", "socra_ccrp", "gcp"),
    "clinical_research_nurse": ("rn", "gcp", "acrp_ccrc"),
    "project_manager": ("pmp", "acrp_cp", "gcp"),
    "data_manager": ("gcp", "other"),
    "regulatory_specialist": ("gcp", "acrp_cp"),
    "biostatistician": ("gcp", "other"),
    "medical_monitor": ("gcp", "other"),
    "other": ("gcp", "other"),
}
CERT_NAME = {
    "acrp_ccra": "ACRP CCRA",
    "acrp_ccrc": "ACRP CCRC",
    "acrp_cp": "ACRP-CP",
    "socra_ccrp": "SOCRA CCRP",
    "gcp": "GCP",
    "pmp": "PMP",
    "rn": "RN",
    "other": "new",
}
AREAS = _Weighted(
    {
        "oncology": 0.26,
        "cardiology": 0.10,
        "neurology": 0.10,
        "immunology": 0.09,
        "infectious_disease": 0.09,
        "rare_disease": 0.08,
        "endocrinology": 0.07,
        "respiratory": 0.06,
        "psychiatry": 0.05,
        "dermatology": 0.04,
        "other": 0.06,
    }
)
AREA_SLUG = {
    "oncology": "onc",
    "cardiology": "cardio",
    "neurology": "neuro",
    "immunology": "immuno",
    "infectious_disease": "id",
    "rare_disease": "rare",
    "endocrinology": "endo",
    "respiratory": "resp",
    "psychiatry": "psych",
    "dermatology": "derm",
    "other": "other",
}
PHASES = ("phase_i", "phase_ii", "phase_iii", "phase_iv")
SOURCES = {
    PASSIVE: _Weighted(
        {"linkedin": 0.45, "database": 0.2, "referral": 0.15, "conference": 0.15, "other": 0.05}
    ),
    ACTIVE: _Weighted(
        {"career_site": 0.4, "job_board": 0.35, "linkedin": 0.1, "referral": 0.1, "other": 0.05}
    ),
}
COUNTRIES = _Weighted(
    {"US": 0.45, "GB": 0.12, "DE": 0.08, "IN": 0.08, "CA": 0.06, "FR": 0.05, "PL": 0.05,
     "NL": 0.04, "ES": 0.04, "IE": 0.03}
)  # fmt: skip
DIALING = {"US": "+1", "CA": "+1", "GB": "+44", "DE": "+49", "IN": "+91", "FR": "+33",
            "PL": "+48", "NL": "+31", "ES": "+34", "IE": "+353"}  # fmt: skip
FIRST = (
    "Ada", "Amara", "Ben", "Carla", "Dev", "Elena", "Femi", "Grace", "Hiro", "Ines", "Jonas",
    "Kavya", "Liam", "Maria", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma",
    "Victor", "Wei", "Yara", "Zoe", "Marta", "Tomasz", "Aoife", "Lucas",
)  # fmt: skip
LAST = (
    "Okafor", "Keller", "Nguyen", "Garcia", "Schmidt", "Patel", "Kowalski", "Murphy", "Rossi",
    "Tanaka", "Dubois", "Jansen", "Silva", "Cohen", "Larsen", "Haddad", "Moreau", "Byrne",
    "Novak", "Fischer", "Mensah", "Ortiz", "Lindqvist", "Reyes", "Walsh", "Kim",
)  # fmt: skip
EMPLOYERS = (
    "Northwind Research", "Harbor Clinical", "Bluepeak CRO", "Meridian Trials", "Alder Health",
    "Crescent Biosciences", "Summit Site Network", "Lakeside University Hospital",
)  # fmt: skip
CHANNELS = {
    PERSONALIZED: _Weighted({"email": 0.45, "linkedin": 0.40, "phone": 0.15}),
    TEMPLATED: _Weighted({"email": 0.7, "linkedin": 0.2, "sms": 0.1}),
    BLAST: _Weighted({"email": 0.9, "sms": 0.1}),
}
CONTENT = _Weighted(
    {"best_practices": 0.35, "trial_news": 0.35, "market_insight": 0.2, "event_invitation": 0.1}
)
DECLINE = {
    "personal": _Weighted(
        {"compensation": 0.4, "counteroffer": 0.25, "location": 0.15, "role_fit": 0.1,
         "candidate_experience": 0.03, "other": 0.07}
    ),
    "automated_only": _Weighted(
        {"compensation": 0.25, "counteroffer": 0.15, "location": 0.1, "role_fit": 0.05,
         "candidate_experience": 0.4, "other": 0.05}
    ),
}  # fmt: skip
DECLINE_NOTE = {
    "compensation": "The salary did not meet my expectations.",
    "counteroffer": "My current employer made a counteroffer I accepted.",
    "location": "The commute would not work for my family.",
    "role_fit": "The study portfolio is not what I am looking for.",
    "candidate_experience": "I never heard from a person during the process.",
    "other": "Personal reasons.",
}
PERSONAL_OPENERS = (
    "I saw your {phase} {area} work at {employer} and thought of a {role} role that fits it.",
    "Your {area} site experience stood out to me; we have a {role} opening you may like.",
    "Congrats on the {area} study milestone at {employer}. A {role} role came up that fits you.",
)

# Key layouts of the type-specific fields, in output order (the head fields come first).
K_REGISTERED = (
    "role", "status", "source", "therapeutic_areas", "trial_phases", "certifications",
    "years_experience", "country", "recruiter", "personal",
)  # fmt: skip
_K_OUTREACH = (
    "recruiter", "automated", "channel", "personalization", "campaign", "position", "personal",
)  # fmt: skip
OUTREACH_KEYS = {
    (automated, no_position): tuple(
        key
        for key in _K_OUTREACH
        if not (automated and key == "recruiter") and not (no_position and key == "position")
    )
    for automated in (False, True)
    for no_position in (False, True)
}
"""The outreach fields present, by (automated, without a position)."""
K_REPLY = ("channel", "sentiment", "personal")
K_BOUNCE = ("channel", "bounce")
K_REPLY_SAID = ("channel", "sentiment", "reason", "follow_up_on", "personal")
"""A declining reply that may say why and when to ask again (None values are left out)."""
K_CALL = ("recruiter", "kind", "duration_minutes", "personal")
K_APPLICATION = ("position",)
K_ACK = ("recruiter", "automated", "position", "channel", "personal")
K_AUTOMATED_ACK = K_ACK[1:]
K_POOL_ADD = ("recruiter", "pool")
K_POOL_REMOVE = ("recruiter", "automated", "pool", "reason")
K_CONTENT = ("recruiter", "automated", "content", "content_id", "channel", "campaign")
K_AUTOMATED_CONTENT = K_CONTENT[1:]
K_NOTE = ("recruiter", "occasion", "channel", "personal")
K_ENRICHED = ("automated", "change", "certification", "personal")
K_BY_RECRUITER = ("recruiter", "position")
K_POOL_SHORTLIST = ("recruiter", "position", "source", "match_rank", "match_score")
K_INTERVIEW = ("recruiter", "position", "scheduled_for")
K_POSITION = ("position",)
K_DECLINED = ("position", "reason", "personal")
K_HIRED = ("recruiter", "position", "start_date")
K_DISMISSED = ("recruiter", "position", "reason")
K_CONSENT = ("basis",)
K_OPT_OUT = ("scope", "channel")
K_NONE: tuple[str, ...] = ()

Event = tuple[int, str, str | None, tuple[str, ...], tuple[Any, ...]]
"""(seconds since the history's start, type, candidate (None: a position's fact), field names,
field values).

Compact on purpose: a million of them are held for the final sort (by the small int in front,
stable, so ties keep the order in which candidates and their touchpoints were simulated)."""

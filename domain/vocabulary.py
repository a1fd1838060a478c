"""The words recruiters in clinical research use, as closed vocabularies.

Closed lists keep the metrics' segments clean: a breakdown by role or therapeutic area is
only as good as the values it groups by.
"""

from enum import StrEnum


class Role(StrEnum):
    CRA = "cra"  # clinical research associate (monitor)
    CRC = "crc"  # clinical research coordinator (site)
    CLINICAL_RESEARCH_NURSE = "clinical_research_nurse"
    PROJECT_MANAGER = "project_manager"
    DATA_MANAGER = "data_manager"
    REGULATORY_SPECIALIST = "regulatory_specialist"
    BIOSTATISTICIAN = "biostatistician"
    MEDICAL_MONITOR = "medical_monitor"
    OTHER = "other"


class TherapeuticArea(StrEnum):
    ONCOLOGY = "oncology"
    CARDIOLOGY = "cardiology"
    NEUROLOGY = "neurology"
    IMMUNOLOGY = "immunology"
    INFECTIOUS_DISEASE = "infectious_disease"
    RARE_DISEASE = "rare_disease"
    ENDOCRINOLOGY = "endocrinology"
    RESPIRATORY = "respiratory"
    PSYCHIATRY = "psychiatry"
    DERMATOLOGY = "dermatology"
    OTHER = "other"


class TrialPhase(StrEnum):
    PHASE_I = "phase_i"
    PHASE_II = "phase_ii"
    PHASE_III = "phase_iii"
    PHASE_IV = "phase_iv"


class Certification(StrEnum):
    ACRP_CCRA = "acrp_ccra"
    ACRP_CCRC = "acrp_ccrc"
    ACRP_CP = "acrp_cp"
    SOCRA_CCRP = "socra_ccrp"
    GCP = "gcp"
    PMP = "pmp"
    RN = "rn"
    OTHER = "other"


class CandidateStatus(StrEnum):
    """Whether the candidate is looking: passive candidates need researched outreach."""

    ACTIVE = "active"
    PASSIVE = "passive"


class CandidateSource(StrEnum):
    LINKEDIN = "linkedin"
    REFERRAL = "referral"
    JOB_BOARD = "job_board"
    CAREER_SITE = "career_site"
    CONFERENCE = "conference"
    DATABASE = "database"
    OTHER = "other"


class Channel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    LINKEDIN = "linkedin"
    SMS = "sms"


class BounceKind(StrEnum):
    """Why a message did not arrive: for good (an address that does not exist) or this time."""

    HARD = "hard"
    SOFT = "soft"


class Personalization(StrEnum):
    """How much research went into a message: the source document's central variable."""

    PERSONALIZED = "personalized"
    TEMPLATED = "templated"
    GENERIC_BLAST = "generic_blast"


class Sentiment(StrEnum):
    INTERESTED = "interested"
    NOT_NOW = "not_now"
    NOT_INTERESTED = "not_interested"


class ReplyReason(StrEnum):
    """Why a candidate said no, or not now, when they said why."""

    COMPENSATION = "compensation"
    LOCATION = "location"
    TIMING = "timing"
    ROLE_FIT = "role_fit"
    NOT_LOOKING = "not_looking"
    OTHER = "other"


class MeetingKind(StrEnum):
    CALL = "call"
    VIDEO = "video"
    IN_PERSON = "in_person"


class EnrichmentKind(StrEnum):
    """What automation noticed in a candidate's public profile."""

    PROMOTION = "promotion"
    CERTIFICATION = "certification"
    EMPLOYER_CHANGE = "employer_change"


class ContentKind(StrEnum):
    BEST_PRACTICES = "best_practices"
    TRIAL_NEWS = "trial_news"
    MARKET_INSIGHT = "market_insight"
    EVENT_INVITATION = "event_invitation"


class NoteOccasion(StrEnum):
    CONGRATULATIONS_PROMOTION = "congratulations_promotion"
    CONGRATULATIONS_CERTIFICATION = "congratulations_certification"
    OPPORTUNITY = "opportunity"
    CHECK_IN = "check_in"


class PoolExitReason(StrEnum):
    HIRED = "hired"
    NOT_A_FIT = "not_a_fit"
    OPTED_OUT = "opted_out"
    UNREACHABLE = "unreachable"
    OTHER = "other"


class DeclineReason(StrEnum):
    COMPENSATION = "compensation"
    COUNTEROFFER = "counteroffer"
    LOCATION = "location"
    ROLE_FIT = "role_fit"
    CANDIDATE_EXPERIENCE = "candidate_experience"
    OTHER = "other"


class ConsentBasis(StrEnum):
    EXPLICIT_CONSENT = "explicit_consent"
    LEGITIMATE_INTEREST = "legitimate_interest"


class OptOutScope(StrEnum):
    """Opting out stops marketing outreach; do-not-contact stops every contact we start."""

    OPT_OUT = "opt_out"
    DO_NOT_CONTACT = "do_not_contact"


class ErasureReason(StrEnum):
    """Why personal data is erased: a closed list, because the reason is kept for ever."""

    DATA_SUBJECT_REQUEST = "data_subject_request"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    RETENTION_EXPIRED = "retention_expired"
    UNLAWFUL_PROCESSING = "unlawful_processing"
    LEGAL_OBLIGATION = "legal_obligation"


class PositionCloseReason(StrEnum):
    """Why a position closed without Rapport recording whom it was filled by."""

    FILLED_ELSEWHERE = "filled_elsewhere"
    CANCELLED = "cancelled"
    ON_HOLD = "on_hold"
    CLIENT_WITHDREW = "client_withdrew"
    OTHER = "other"


class ShortlistSource(StrEnum):
    """Where a shortlisted candidate came from: the pool's match for the position, or found
    some other way (a search, a referral, an application)."""

    POOL_MATCH = "pool_match"
    SOURCED = "sourced"


class DismissReason(StrEnum):
    """Why a recruiter keeps someone out of a position's matches."""

    NOT_A_FIT = "not_a_fit"
    NOT_INTERESTED = "not_interested"
    UNAVAILABLE = "unavailable"
    COMPENSATION = "compensation"
    LOCATION = "location"
    OTHER = "other"

"""The touchpoint catalogue as an import format: what is valid, and where personal data lives."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.touchpoints import CATALOGUE, TOUCHPOINT
from tests.support.builders import at, tp


def test_the_catalogue_covers_every_kind_of_touchpoint() -> None:
    assert set(CATALOGUE) == {
        "candidate_registered", "profile_enriched", "outreach_sent", "reply_received",
        "call_held", "application_submitted", "application_acknowledged",
        "added_to_talent_pool", "removed_from_talent_pool", "content_shared",
        "personal_note_sent", "shortlisted", "match_dismissed", "interview_scheduled",
        "offer_extended",
        "offer_accepted", "offer_declined", "hired", "consent_given", "opted_out",
        "erasure_requested", "outreach_bounced",
    }  # fmt: skip


def test_every_type_has_a_schema_version() -> None:
    assert all(model.schema_version >= 1 for model in CATALOGUE.values())


def test_personal_data_lives_only_under_personal() -> None:
    personal_words = {"name", "email", "phone", "body", "subject", "notes", "text", "title"}
    for kind, model in CATALOGUE.items():
        assert not personal_words & set(model.model_fields), kind


def test_occurred_at_needs_a_zone_and_is_kept_in_utc() -> None:
    with pytest.raises(ValidationError, match="RFC 3339 date-time with its offset"):
        tp("reply_received", when="2026-05-01T09:00:00")
    for other_form in ("2026-05-01 09:00:00Z", "2026-05-01T09:00Z", "2026-05-01T09:00:00+0000"):
        with pytest.raises(ValidationError, match="RFC 3339"):
            tp("reply_received", when=other_form)
    reply = tp("reply_received", when="2026-05-01T11:00:00+02:00")
    assert reply.occurred_at.isoformat() == "2026-05-01T09:00:00+00:00"


def test_a_generic_blast_is_not_a_personal_touch() -> None:
    assert tp("outreach_sent").is_personal_touch
    assert not tp("outreach_sent", personalization="generic_blast").is_personal_touch
    assert not tp(
        "outreach_sent", personalization="templated", recruiter=None, automated=True
    ).is_personal_touch


def test_personalized_outreach_is_never_automated() -> None:
    with pytest.raises(ValidationError, match="researched and sent by a recruiter"):
        tp("outreach_sent", automated=True)


def test_someone_must_have_done_what_we_did() -> None:
    with pytest.raises(ValidationError, match="name the recruiter"):
        tp("outreach_sent", recruiter=None)
    with pytest.raises(ValidationError, match="by a recruiter, not by automation"):
        tp("personal_note_sent", recruiter=None, automated=True)


def test_unknown_fields_and_types_are_rejected() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        tp("reply_received", mood="great")
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        TOUCHPOINT.validate_python({"type": "telepathy", "candidate": "C-1", "occurred_at": at()})


def test_identifiers_are_not_free_text() -> None:
    with pytest.raises(ValidationError, match="candidate"):
        tp("reply_received", candidate="Ada Okafor <ada@example.org>")


def test_the_same_crm_record_has_the_same_key() -> None:
    assert tp("reply_received", source_id="crm-1").dedupe_key == "src:crm-1"
    first = tp("reply_received", personal={"body": "yes please"})
    again = tp("reply_received", personal={"body": "a different body"})
    other = tp("reply_received", sentiment="not_now")
    assert first.dedupe_key == again.dedupe_key != other.dedupe_key
    assert "yes" not in first.dedupe_key


def test_a_shortlisting_says_where_the_candidate_came_from_and_old_ones_keep_their_key() -> None:
    old = tp("shortlisted")
    # recorded before attribution existed: the same JSON, so the same content digest
    assert old.clear_json == (
        b'{"type":"shortlisted","candidate":"C-1","occurred_at":"2026-05-01T09:00:00Z",'
        b'"source_id":null,"recruiter":"rec-1","automated":false,"position":"REQ-1"}'
    )
    matched = tp("shortlisted", source="pool_match", match_rank=3, match_score=81.25)
    assert (matched.match_rank, matched.match_score) == (3, 81.25)
    with pytest.raises(ValidationError, match="gives its match_rank and match_score"):
        tp("shortlisted", source="pool_match", match_rank=3)
    with pytest.raises(ValidationError, match="come with source pool_match only"):
        tp("shortlisted", source="sourced", match_score=80.0)
    assert not tp("match_dismissed").is_personal_touch  # a decision, not a contact


def test_a_reply_says_why_and_when_to_ask_again_and_old_replies_keep_their_key() -> None:
    old = tp("reply_received", sentiment="not_now")
    assert old.clear_json == (
        b'{"type":"reply_received","candidate":"C-1","occurred_at":"2026-05-01T09:00:00Z",'
        b'"source_id":null,"channel":"email","sentiment":"not_now"}'
    )
    later = tp("reply_received", sentiment="not_now", reason="timing", follow_up_on="2026-09-01")
    assert (later.reason, str(later.follow_up_on)) == ("timing", "2026-09-01")
    assert tp("reply_received", sentiment="not_interested", reason="compensation").reason
    for fields, refusal in (
        ({"sentiment": "interested", "reason": "timing"}, "not_interested or not_now reply only"),
        ({"sentiment": "not_interested", "follow_up_on": "2026-09-01"}, "not_now reply only"),
        ({"sentiment": "not_now", "follow_up_on": "2026-05-01"}, "a day after the reply"),
        ({"sentiment": "not_now", "follow_up_on": "2100-01-01"}, "before 2100-01-01"),
        ({"sentiment": "not_now", "reason": "too_busy"}, "reason"),
    ):
        with pytest.raises(ValidationError, match=refusal):
            tp("reply_received", **fields)

"""What a compliance officer asks: who contacted this candidate, when, how, with what consent;
what was refused; everything we hold about the person; and who may ask at all."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

import orjson
from typer.testing import CliRunner

from domain.access import COMPLIANCE_OPERATIONS, Operation, UserRole, may
from domain.consent import ConsentHistory, ConsentState
from domain.vocabulary import ConsentBasis, OptOutScope
from infra.cli.app import app
from infra.cli.compliance import audit_app
from infra.core.settings import Settings
from infra.store.ledger import Ledger
from tests.support.builders import at
from tests.support.files import store_env, story, write_jsonl

runner = CliRunner()

COMMAND_OPERATIONS: dict[str, Operation] = {
    "audit export": Operation.EXPORT_CONTACT_HISTORY,
    "audit subject-access": Operation.EXPORT_SUBJECT_ACCESS,
    "audit verify": Operation.VERIFY_LEDGER,
    "audit refusals": Operation.READ_REFUSALS,
    "audit erasures": Operation.READ_REFUSALS,
    "erase": Operation.ERASE_CANDIDATE,
}
"""Every compliance command and the operation it performs (see ``domain.access``)."""


def rapport(settings: Settings, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=store_env(settings))
    return result.exit_code, result.stdout, result.stderr


def consent_story() -> list[dict[str, object]]:
    """Registered, consents, a personal message, a blast, opts out, a reply (allowed)."""
    return [
        *story("C-1")[:1],
        {"type": "consent_given", "candidate": "C-1", "occurred_at": at(0.5),
         "basis": "explicit_consent", "source_id": "crm-c1-consent"},
        story("C-1")[1],
        {"type": "outreach_sent", "candidate": "C-1", "occurred_at": at(2), "channel": "email",
         "personalization": "generic_blast", "automated": True, "source_id": "crm-c1-blast"},
        {"type": "opted_out", "candidate": "C-1", "occurred_at": at(5), "scope": "opt_out",
         "source_id": "crm-c1-out"},
        {"type": "reply_received", "candidate": "C-1", "occurred_at": at(6), "channel": "phone",
         "sentiment": "not_interested", "source_id": "crm-c1-reply"},
    ]  # fmt: skip


def after_withdrawal(source_id: str = "crm-c1-late") -> dict[str, object]:
    return {"type": "outreach_sent", "candidate": "C-1", "occurred_at": at(7),
            "channel": "linkedin", "personalization": "templated", "recruiter": "rec-2",
            "source_id": source_id}  # fmt: skip


def test_the_contact_history_shows_who_when_how_and_the_consent_at_each_contact(
    settings: Settings, tmp_path: Path
) -> None:
    code, _, err = rapport(settings, "import", str(write_jsonl(tmp_path / "a.jsonl",
                                                              consent_story())))  # fmt: skip
    assert code == 0, err
    code, out, err = rapport(settings, "audit", "export", "C-1", "--format", "json")
    assert code == 0, err
    document = orjson.loads(out)
    rows = document["touchpoints"]
    assert [r["type"] for r in rows] == [
        "candidate_registered", "consent_given", "outreach_sent", "outreach_sent", "opted_out",
        "reply_received",
    ]  # fmt: skip
    assert [r["version"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["consent"] for r in rows] == [
        "not_recorded", "given (explicit_consent)", "given (explicit_consent)",
        "given (explicit_consent)", "withdrawn", "withdrawn",
    ]  # fmt: skip
    personal, blast = rows[2], rows[3]
    assert (personal["actor"], personal["by"], personal["channel"]) == ("recruiter", "rec-1",
                                                                        "email")  # fmt: skip
    assert (personal["personalization"], personal["contact_by_us"]) == ("personalized", True)
    assert (blast["actor"], blast["personalization"]) == ("automation", "generic_blast")
    assert rows[5]["actor"] == "candidate"
    assert rows[0]["occurred_at"] == "2026-05-01T09:00:00+00:00" and rows[0]["recorded_at"]
    # The fingerprint is the SHA-256 of the stored event, as its chain link commits to it.
    ledger = Ledger(settings)
    try:
        stored = ledger.ledger_recorder.sealed_rows_of(ledger.candidate("C-1").id)
    finally:
        ledger.close()
    for row, entry in zip(stored, rows, strict=True):
        head = b"%s|%d|%s|" % (row.candidate_id.encode(), row.version, row.topic.encode())
        assert entry["fingerprint"] == sha256(head + row.state).hexdigest()
        assert entry["position"] == row.position and len(entry["link"]) == 64
    assert b"Person C-1" not in out.encode() and b"Dear" not in out.encode()

    code, out, _ = rapport(settings, "audit", "export", "C-1", "--format", "csv")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["type"] for r in table] == [r["type"] for r in rows]
    assert table[4]["consent"] == "withdrawn" and table[2]["by"] == "rec-1"
    assert list(table[0]) == [
        "position", "version", "type", "occurred_at", "recorded_at", "actor", "by", "channel",
        "personalization", "contact_by_us", "consent", "fingerprint", "link",
    ]  # fmt: skip

    target = tmp_path / "out" / "c1.csv"
    assert rapport(settings, "audit", "export", "C-1", "--format", "csv", "--out",
                   str(target))[0] == 0  # fmt: skip
    assert target.read_text() == out
    assert rapport(settings, "audit", "export", "C-404")[0] == 3
    assert rapport(settings, "audit", "export", "C-1", "--format", "xml")[0] == 2


def test_outreach_after_withdrawal_is_refused_and_counted_for_compliance(
    settings: Settings, tmp_path: Path
) -> None:
    assert rapport(settings, "import", str(write_jsonl(tmp_path / "a.jsonl",
                                                       consent_story())))[0] == 0  # fmt: skip
    late = write_jsonl(tmp_path / "late.jsonl", [after_withdrawal()])
    code, _, err = rapport(settings, "import", str(late))
    assert code == 3
    assert "line 1: occurred_at: candidate C-1 opted out as of 2026-05-08" in err
    assert "[consent_withdrawn]" in err
    assert rapport(settings, "import", str(late))[0] == 3  # sent again: the same refusal
    # The frequency cap is reported the same way: a fourth outreach within 14 days.
    capped = [*story("C-2"),
              *({"type": "outreach_sent", "candidate": "C-2", "occurred_at": at(1 + d),
                 "channel": "email", "personalization": "templated", "recruiter": "rec-1",
                 "source_id": f"cap-{d}"} for d in (1, 2, 3))]  # fmt: skip
    code, _, err = rapport(settings, "import", str(write_jsonl(tmp_path / "cap.jsonl", capped)))
    assert code == 3 and "[frequency_cap_exceeded]" in err
    assert rapport(settings, "import", "--dry-run", str(late))[0] == 3  # a dry run counts nothing

    code, out, _ = rapport(settings, "audit", "refusals", "--format", "json")
    assert code == 0
    report = orjson.loads(out)
    assert report["by_reason"] == {
        "consent_withdrawn": {"touchpoints": 1, "attempts": 2},
        "frequency_cap_exceeded": {"touchpoints": 1, "attempts": 1},
    }
    refused = {r["code"]: r for r in report["refusals"]}
    assert refused["consent_withdrawn"]["candidate"] == "C-1"
    assert refused["consent_withdrawn"]["type"] == "outreach_sent"
    assert refused["consent_withdrawn"]["source"] == "import"
    assert refused["frequency_cap_exceeded"]["candidate"] == "C-2"
    code, out, _ = rapport(settings, "audit", "refusals")
    assert "consent_withdrawn" in out and "frequency_cap_exceeded" in out

    # Recorded through the API, a refusal is counted too, and the export shows it.
    ledger = Ledger(settings)
    try:
        from tests.support.builders import tp

        try:
            ledger.record(tp("content_shared", when=at(8)))
        except Exception as refused_now:
            assert type(refused_now).__name__ == "ConsentWithdrawn"
        else:
            raise AssertionError("content shared after an opt-out was recorded")
    finally:
        ledger.close()
    document = orjson.loads(rapport(settings, "audit", "export", "C-1")[1])
    refusals = document["refused_touchpoints"]
    assert sorted((r["type"], r["attempts"], r["source"]) for r in refusals) == [
        ("content_shared", 1, "record"),
        ("outreach_sent", 2, "import"),
    ]
    assert len(document["touchpoints"]) == 6  # nothing refused was recorded


def test_the_subject_access_export_holds_everything_about_the_person(
    settings: Settings, tmp_path: Path
) -> None:
    assert rapport(settings, "import", str(write_jsonl(tmp_path / "a.jsonl",
                                                       consent_story())))[0] == 0  # fmt: skip
    rapport(settings, "import", str(write_jsonl(tmp_path / "late.jsonl", [after_withdrawal()])))
    code, out, err = rapport(settings, "audit", "subject-access", "C-1")
    assert code == 0, err
    document = orjson.loads(out)
    assert document["subject"]["candidate"] == "C-1"
    assert document["personal_data"] == {"name": "Person C-1", "email": "c-1@example.org",
                                         "phone": None}  # fmt: skip
    assert document["erased"] is False and document["erasure"] is None
    assert document["profile"]["role"] == "cra" and "personal" not in document["profile"]
    message = document["touchpoints"][2]
    assert message["personal"] == {"subject": "Your oncology monitoring work", "body": "Dear ..."}
    assert message["details"]["recruiter"] == "rec-1" and message["consent"].startswith("given")
    assert len(document["touchpoints"]) == 6
    assert [r["code"] for r in document["refused_touchpoints"]] == ["consent_withdrawn"]
    touchpoints_topic, candidates_topic, _ = document["processing"]["recipients"]
    assert "no name, contact detail, text, CRM reference or profile" in touchpoints_topic
    assert "tombstone" in candidates_topic
    ledger = Ledger(settings)
    try:
        # Every other reader of the ledger gets the personal data withheld.
        profile = ledger.candidate("C-1").profile
        assert profile is not None and profile.personal.model_dump() == {"withheld": True}
    finally:
        ledger.close()
    assert rapport(settings, "audit", "subject-access", "C-404")[0] == 3


def test_consent_is_the_last_change_that_happened_before_the_moment() -> None:
    history = ConsentHistory()
    day = [datetime(2026, 5, d, tzinfo=UTC) for d in range(1, 10)]
    assert history.at(day[0]).state is ConsentState.NOT_RECORDED
    history.given(day[1], ConsentBasis.LEGITIMATE_INTEREST)
    history.opted_out(day[5], OptOutScope.DO_NOT_CONTACT)
    history.opted_out(day[3], OptOutScope.OPT_OUT)  # recorded later, back-dated
    assert str(history.at(day[2])) == "given (legitimate_interest)"
    assert history.at(day[3]).state is ConsentState.WITHDRAWN
    assert history.at(day[4]).state.forbids_contact
    assert history.at(day[6]).state is ConsentState.DO_NOT_CONTACT
    history.given(day[7], ConsentBasis.EXPLICIT_CONSENT)
    assert not history.at(day[8]).state.forbids_contact


def test_compliance_work_is_for_the_compliance_role_only() -> None:
    for operation in COMPLIANCE_OPERATIONS:
        assert may(UserRole.COMPLIANCE, operation)
        assert not may(UserRole.RECRUITER, operation)
        assert not may(UserRole.VIEWER, operation)
    assert may(UserRole.RECRUITER, Operation.RECORD_TOUCHPOINTS)
    assert not may(UserRole.COMPLIANCE, Operation.RECORD_TOUCHPOINTS)  # separation of duties
    assert all(may(role, Operation.READ_METRICS) for role in UserRole)
    # Every compliance command performs a compliance operation, and only those commands.
    commands = {f"audit {c.name}" for c in audit_app.registered_commands} | {"erase"}
    assert set(COMMAND_OPERATIONS) == commands
    assert set(COMMAND_OPERATIONS.values()) <= COMPLIANCE_OPERATIONS


def test_erase_refuses_bad_input_and_unknown_candidates(settings: Settings, tmp_path: Path) -> None:
    assert rapport(settings, "import", str(write_jsonl(tmp_path / "a.jsonl", story("C-1"))))[0] == 0
    code, _, err = rapport(settings, "erase", "not a ref!", "--reason", "data_subject_request")
    assert code == 2 and "candidate: String should match pattern" in err
    assert rapport(settings, "erase", "C-1", "--reason", "because")[0] == 2
    assert rapport(settings, "erase", "C-1")[0] == 2  # the reason is required
    code, _, err = rapport(settings, "erase", "C-404", "--reason", "retention_expired")
    assert code == 3 and "[unknown_candidate]" in err
    code, out, _ = rapport(
        settings, "erase", "C-1", "--reason", "retention_expired", "--by", "dpo-1"
    )
    assert code == 0 and "erased candidate C-1 at position 6" in out
    code, out, _ = rapport(settings, "audit", "erasures")
    assert code == 0 and "C-1" in out and "retention_expired" in out

"""`rapport import`: all validated before anything is written; re-imports never double count."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from typer.testing import CliRunner

from domain.lines import import_schema
from domain.touchpoints import Withheld
from infra.cli.app import app
from infra.compliance.audit import subject_access
from infra.core.settings import Settings
from infra.store.ledger import Ledger
from tests.support.builders import at
from tests.support.files import store_env, story, write_jsonl

runner = CliRunner()


def rapport(settings: Settings, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=store_env(settings))
    return result.exit_code, result.stdout, result.stderr


def recorded(settings: Settings) -> int:
    ledger = Ledger(settings)
    try:
        return ledger.position()
    finally:
        ledger.close()


def test_a_crm_export_is_imported(settings: Settings, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "export.jsonl", story("C-1") + story("C-2"))
    code, out, _ = rapport(settings, "import", str(data))
    assert code == 0, out
    assert "recorded 10 touchpoint(s) for 2 candidate(s), 0 duplicate(s) skipped" in out
    assert recorded(settings) == 10


def test_re_importing_the_same_export_counts_nothing_twice(
    settings: Settings, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "export.jsonl", story("C-1") + story("C-2"))
    rapport(settings, "import", str(data))
    bigger = write_jsonl(tmp_path / "bigger.jsonl", story("C-1") + story("C-2") + story("C-3"))
    code, out, _ = rapport(settings, "import", str(bigger))
    assert code == 0
    assert "recorded 5 touchpoint(s) for 1 candidate(s), 10 duplicate(s) skipped" in out
    assert recorded(settings) == 15


def test_lines_without_a_source_id_are_deduplicated_by_content(
    settings: Settings, tmp_path: Path
) -> None:
    lines = [{k: v for k, v in r.items() if k != "source_id"} for r in story("C-1")]
    data = write_jsonl(tmp_path / "export.jsonl", lines)
    rapport(settings, "import", str(data))
    code, out, _ = rapport(settings, "import", str(data))
    assert code == 0 and "recorded 0 touchpoint(s)" in out and "5 duplicate(s)" in out
    assert recorded(settings) == 5


def test_invalid_lines_are_named_and_nothing_is_written(settings: Settings, tmp_path: Path) -> None:
    lines = story("C-1")
    del lines[1]["channel"]
    lines[2]["sentiment"] = "delighted"
    data = write_jsonl(
        tmp_path / "bad.jsonl",
        [*lines, b'{"type": "reply_received", "candidate": ', b'{"type": "telepathy"}'],
    )
    code, _, err = rapport(settings, "import", str(data))
    assert code == 2
    assert "nothing was written" in err
    assert "line 2: channel: Field required" in err
    assert "line 3: sentiment: Input should be 'interested', 'not_now' or 'not_interested'" in err
    assert "line 6: (line): Invalid JSON" in err
    assert "line 7: type:" in err
    assert recorded(settings) == 0


def test_a_file_of_many_errors_says_how_many_and_shows_the_first(
    settings: Settings, tmp_path: Path
) -> None:
    """Only the first errors by line are kept (a 10M-line file of them must not fill memory);
    all are counted."""
    bad = {"type": "reply_received", "candidate": "C-1", "occurred_at": at(1), "channel": "fax",
           "sentiment": "interested"}  # fmt: skip
    data = write_jsonl(tmp_path / "bad.jsonl", story("C-1") + [bad] * 1_500)
    code, _, err = rapport(settings, "import", str(data))
    assert code == 2
    assert "1500 error(s); nothing was written" in err
    assert "line 6: channel:" in err and "line 55: channel:" in err
    assert "line 56:" not in err
    assert "… and 1450 more" in err
    assert recorded(settings) == 0


def test_a_zone_less_timestamp_is_an_error_on_its_line(settings: Settings, tmp_path: Path) -> None:
    lines = story("C-1")
    lines[3]["occurred_at"] = "2026-05-05T09:00:00"
    code, _, err = rapport(settings, "import", str(write_jsonl(tmp_path / "x.jsonl", lines)))
    assert code == 2
    assert "line 4: occurred_at: must be an RFC 3339 date-time with its offset" in err


def test_touchpoints_the_rules_refuse_fail_the_whole_import(
    settings: Settings, tmp_path: Path
) -> None:
    lines = story("C-1") + story("C-2")
    lines.insert(1, {"type": "opted_out", "candidate": "C-1", "occurred_at": at(0.5)})
    lines.append({"type": "reply_received", "candidate": "C-404", "occurred_at": at(2),
                  "channel": "phone", "sentiment": "not_now"})  # fmt: skip
    code, _, err = rapport(settings, "import", str(write_jsonl(tmp_path / "x.jsonl", lines)))
    assert code == 3
    assert "2 touchpoint(s) refused; nothing was written" in err
    assert "line 3: occurred_at: candidate C-1 opted out" in err
    assert "[consent_withdrawn]" in err
    assert "line 12: candidate: candidate C-404 is not registered" in err
    assert recorded(settings) == 0


def test_dry_run_validates_and_writes_nothing(settings: Settings, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "export.jsonl", story("C-1"))
    code, out, _ = rapport(settings, "import", str(data), "--dry-run")
    assert code == 0
    assert "would record 5, 0 already recorded (dry run: nothing written)" in out
    assert recorded(settings) == 0


def test_csv_carries_the_flat_subset(settings: Settings, tmp_path: Path) -> None:
    csv = tmp_path / "export.csv"
    csv.write_text(
        "type,candidate,occurred_at,source_id,role,status,therapeutic_areas,personal.name,"
        "channel,personalization,recruiter,sentiment\n"
        f"candidate_registered,C-7,{at()},crm-1,crc,active,oncology;rare_disease,Bo Chen,,,,\n"
        f"outreach_sent,C-7,{at(1)},crm-2,,,,,linkedin,templated,rec-2,\n"
        f"reply_received,C-7,{at(2)},crm-3,,,,,linkedin,,,not_now\n"
    )
    code, out, err = rapport(settings, "import", str(csv))
    assert code == 0, err
    assert "recorded 3 touchpoint(s) for 1 candidate(s)" in out
    ledger = Ledger(settings)
    try:
        profile = ledger.candidate("C-7").profile
        assert profile is not None
        assert [a.value for a in profile.therapeutic_areas] == ["oncology", "rare_disease"]
        assert isinstance(profile.personal, Withheld)  # sealed: only compliance opens it
        document = subject_access(ledger, "C-7", generated_at=datetime.now(UTC))
        assert document["personal_data"] == {"name": "Bo Chen", "email": None, "phone": None}
    finally:
        ledger.close()


def test_csv_errors_name_the_line_and_column(settings: Settings, tmp_path: Path) -> None:
    csv = tmp_path / "export.csv"
    csv.write_text(
        f"type,candidate,occurred_at,channel,sentiment\nreply_received,C-7,{at(2)},pigeon,not_now\n"
    )
    code, _, err = rapport(settings, "import", str(csv))
    assert code == 2
    assert "line 2: channel: Input should be 'email', 'phone', 'linkedin' or 'sms'" in err


def test_schemas_writes_the_import_format(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "--out", str(tmp_path)])
    assert result.exit_code == 0
    written = orjson.loads((tmp_path / "touchpoint.schema.json").read_bytes())
    assert written == orjson.loads(orjson.dumps(import_schema()))


def test_a_file_that_is_not_text_is_an_error_on_its_line(
    settings: Settings, tmp_path: Path
) -> None:
    csv = tmp_path / "export.csv"
    csv.write_bytes(b"type,candidate,occurred_at\nreply_received,C-1,\xff\xfe\n")
    code, _, err = rapport(settings, "import", str(csv))
    assert code == 2
    assert "line 2: (line): not UTF-8 text" in err
    assert recorded(settings) == 0


def test_a_bad_setting_is_named_and_nothing_runs(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "export.jsonl", story("C-1"))
    result = runner.invoke(
        app,
        ["import", str(data), "--db", str(tmp_path / "r.db")],
        env={"RAPPORT_MAX_OUTREACH": "many", "RAPPORT_DATABASE_URL": ""},
    )
    assert result.exit_code == 2
    assert "setting RAPPORT_MAX_OUTREACH: Input should be a valid integer" in result.stderr
    assert not (tmp_path / "r.db").exists()

"""What the command line says: invalid input worded the same by ``record`` and ``import``
(line numbers as in the file, fields as in the import format, no pydantic internals), English
articles before type names, and a sentence instead of an empty table (the JSON and CSV formats
keep their structure)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from infra.cli.app import app
from infra.core.settings import Settings
from tests.support.builders import at
from tests.support.files import import_story, store_env, write_jsonl

runner = CliRunner()

OUTREACH = {"type": "outreach_sent", "candidate": "C-1", "occurred_at": at(1), "channel": "email",
            "personalization": "personalized", "recruiter": "rec-1"}  # fmt: skip


def _problems(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("line ")]


@pytest.fixture
def sqlite(tmp_path: Path) -> Settings:
    return Settings(db=tmp_path / "rapport.db")


def test_record_and_import_word_bad_lines_the_same_way(sqlite: Settings, tmp_path: Path) -> None:
    lines = [
        b'{"type": "reply_received", "candidate": ',
        orjson.dumps(OUTREACH | {"personal": {"withheld": "x"}}),
        orjson.dumps(OUTREACH | {"occurred_at": "1960-01-01T00:00:00Z"}),
        b'{"type": "candidate_registered", "candidate": "C-2", "score": NaN}',
        orjson.dumps({"type": "candidate_registered", "candidate": "C-3", "occurred_at": at(0),
                      "role": "cra", "status": "passive", "personal": {"name": 5}}),
    ]  # fmt: skip
    data = write_jsonl(tmp_path / "bad.jsonl", lines)
    env = store_env(sqlite)
    imported = runner.invoke(app, ["import", str(data)], env=env)
    recorded = runner.invoke(app, ["record"], input=data.read_bytes(), env=env)
    assert imported.exit_code == recorded.exit_code == 2
    said = _problems(imported.stderr)
    assert said == _problems(recorded.stderr)
    assert said == [
        "line 1: (line): Invalid JSON: Expecting value at column 41",
        "line 2: personal.withheld: Extra inputs are not permitted",
        "line 3: occurred_at: must be from 1970-01-01 up to (not including) 2100-01-01, UTC",
        "line 4: (line): Invalid JSON: NaN is not allowed",
        "line 5: personal.name: Input should be a valid string",
    ]
    for internal in ("Value error", "Withheld", "Message", "ContactDetails"):
        assert internal not in imported.stderr + recorded.stderr


def test_record_numbers_the_lines_after_a_bad_one_as_the_file_does(sqlite: Settings) -> None:
    text = "\n{oops\n\n" + orjson.dumps(OUTREACH | {"channel": "fax"}).decode() + "\n"
    result = runner.invoke(app, ["record"], input=text, env=store_env(sqlite))
    assert result.exit_code == 2
    assert _problems(result.stderr) == [
        "line 2: (line): Invalid JSON: Expecting property name enclosed in double quotes"
        " at column 2",
        "line 4: channel: Input should be 'email', 'phone', 'linkedin' or 'sms'",
    ]


def test_type_names_get_the_article_english_gives_them(sqlite: Settings, tmp_path: Path) -> None:
    env = store_env(sqlite)
    erasure = {"type": "erasure_requested", "candidate": "C-1", "occurred_at": at(1),
               "reason": "data_subject_request"}  # fmt: skip
    refused = runner.invoke(app, ["record"], input=orjson.dumps(erasure).decode(), env=env)
    assert "an erasure_requested may be recorded only with the compliance role" in refused.stderr
    offer = {"type": "offer_extended", "candidate": "C-1", "occurred_at": at(1), "automated": True,
             "position": "REQ-1"}  # fmt: skip
    automated = runner.invoke(app, ["record"], input=orjson.dumps(offer).decode(), env=env)
    assert "an offer_extended is done by a recruiter, not by automation" in automated.stderr
    unregistered = runner.invoke(app, ["record"], input=orjson.dumps(OUTREACH).decode(), env=env)
    assert unregistered.exit_code == 3
    assert "an outreach_sent needs a candidate_registered first" in unregistered.stderr


@pytest.fixture
def story_ledger(sqlite: Settings, tmp_path: Path) -> dict[str, str]:
    import_story(sqlite, tmp_path)  # C-1, from at(0) on: registered, contacted, applied
    return store_env(sqlite)


EMPTY_ANSWERS = [
    (["metrics", "--as-of", "2020-01-01"], "nothing to report: no candidate and no outreach"),
    (["compare", "--by", "status", "--as-of", "2020-01-01"], "Nothing to compare"),
    (["journey", "C-1", "--as-of", "2020-01-01"], "no touchpoint of C-1 recorded as happening"),
    (["alerts", "--as-of", "2020-01-01"], "no open alert as of 2020-01-01"),
    (["alerts", "--recruiter", "nobody"], "no candidate is owned by 'nobody'"),
    (["positions", "--as-of", "2020-01-01"], "no open positions"),
    (["payoff", "--as-of", "2020-01-01"], "nothing to report: no outreach, no position"),
    (["audit", "refusals"], "no touchpoint was refused"),
    (["audit", "erasures"], "no candidate was erased"),
]


@pytest.mark.parametrize(("command", "message"), EMPTY_ANSWERS, ids=lambda x: " ".join(x)[:40])
def test_an_empty_answer_is_said_not_shown_as_an_empty_table(
    command: list[str], message: str, story_ledger: dict[str, str]
) -> None:
    result = runner.invoke(app, command, env=story_ledger)
    assert result.exit_code == 0, result.output
    assert message in result.stderr
    assert "┏" not in result.stdout  # no table drawn


def test_a_known_recruiter_without_alerts_is_told_apart(story_ledger: dict[str, str]) -> None:
    owned = {"type": "candidate_registered", "candidate": "C-2", "occurred_at": at(0),
             "role": "cra", "status": "active", "recruiter": "rec-2",
             "personal": {"name": "Ann Example"}}  # fmt: skip
    recorded = runner.invoke(app, ["record"], input=orjson.dumps(owned).decode(), env=story_ledger)
    assert recorded.exit_code == 0, recorded.output
    result = runner.invoke(
        app, ["alerts", "--recruiter", "rec-2", "--as-of", "2020-01-01"], env=story_ledger
    )
    assert result.exit_code == 0
    assert "no open alert (recruiter rec-2) as of 2020-01-01" in result.stderr


@pytest.mark.parametrize(
    ("command", "empty"),
    [
        (["metrics", "--as-of", "2020-01-01", "--format", "json"], "segments"),
        (["alerts", "--as-of", "2020-01-01", "--format", "json"], None),
        (["audit", "refusals", "--format", "json"], "refusals"),
    ],
)
def test_json_keeps_its_structure_when_empty(
    command: list[str], empty: str | None, story_ledger: dict[str, str]
) -> None:
    result = runner.invoke(app, command, env=story_ledger)
    assert result.exit_code == 0 and result.stderr == ""
    document = orjson.loads(result.stdout)
    assert (document if empty is None else document[empty]) == []


def test_metrics_csv_keeps_its_header_when_empty(story_ledger: dict[str, str]) -> None:
    result = runner.invoke(
        app, ["metrics", "--as-of", "2020-01-01", "--format", "csv"], env=story_ledger
    )
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith("status,personalization,outreach,")


def test_no_outreach_by_then_replaces_only_the_engagement_table(
    story_ledger: dict[str, str],
) -> None:
    registered_only = at(0.5)[:10]  # C-1 registered, not contacted yet
    result = runner.invoke(app, ["metrics", "--as-of", registered_only], env=story_ledger)
    assert result.exit_code == 0, result.output
    assert "No outreach sent by" in result.stdout and "Funnel" in result.stdout


def test_alerts_limit_keeps_the_most_overdue_and_says_how_many_more(
    story_ledger: dict[str, str],
) -> None:
    late = at(200)[:10]
    everything = runner.invoke(app, ["alerts", "--as-of", late, "--format", "json"],
                               env=story_ledger)  # fmt: skip
    alerts = orjson.loads(everything.stdout)
    assert len(alerts) >= 2, alerts
    limited = runner.invoke(app, ["alerts", "--as-of", late, "--limit", "1"], env=story_ledger)
    assert limited.exit_code == 0, limited.output
    assert f"the 1 most overdue of {len(alerts)} open alert(s)" in limited.stdout
    assert f"{len(alerts) - 1} more left out (--limit 1)" in limited.stdout
    most_overdue = max(alerts, key=lambda a: a["overdue_days"])
    assert most_overdue["rule"] in limited.stdout
    one = runner.invoke(app, ["alerts", "--as-of", late, "--limit", "1", "--format", "json"],
                        env=story_ledger)  # fmt: skip
    assert [a["rule"] for a in orjson.loads(one.stdout)] == [most_overdue["rule"]]

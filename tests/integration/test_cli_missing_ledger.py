"""A command that only reads never invents a ledger: on a path (or a PostgreSQL schema) where
there is none it exits 2 naming the place and creates nothing, so a typo in --db is not
answered with empty tables. Commands that write still create the ledger."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from infra.cli.app import app
from infra.cli.common import ExitCode
from infra.core.settings import Settings
from tests.support.files import store_env, story, write_jsonl

runner = CliRunner()

READ_COMMANDS = [
    ["metrics"],
    ["metrics", "--format", "json"],
    ["compare", "--by", "status"],
    ["journey", "C-1"],
    ["alerts"],
    ["summary"],
    ["match", "REQ-1"],
    ["positions"],
    ["payoff"],
    ["audit", "export", "C-1"],
    ["audit", "subject-access", "C-1"],
    ["audit", "verify"],
    ["audit", "refusals"],
    ["audit", "erasures"],
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_a_read_command_on_a_missing_sqlite_ledger_exits_2_and_creates_nothing(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"RAPPORT_DB": None, "RAPPORT_DATABASE_URL": None, "RAPPORT_VIEWS_DB": None}
    result = runner.invoke(app, [*command, "--db", "typo.db"], env=env)
    assert result.exit_code == ExitCode.INVALID, result.output
    assert "no ledger at typo.db" in result.output
    assert "rapport import" in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_default_ledger_missing_is_named_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"RAPPORT_DB": None, "RAPPORT_DATABASE_URL": None, "RAPPORT_VIEWS_DB": None}
    result = runner.invoke(app, ["metrics"], env=env)
    assert result.exit_code == ExitCode.INVALID
    assert "no ledger at rapport.db" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_write_command_still_creates_the_ledger(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "story.jsonl", story("C-1"))
    db = tmp_path / "new.db"
    result = runner.invoke(app, ["import", str(data), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert db.is_file()
    result = runner.invoke(app, ["summary", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "5 touchpoints" in result.output


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["metrics"], ["summary"], ["audit", "verify"]], ids=" ".join)
def test_a_read_command_on_an_empty_postgres_schema_exits_2_and_creates_no_table(
    command: list[str], postgres_settings: Settings
) -> None:
    result = runner.invoke(app, command, env=store_env(postgres_settings))
    assert result.exit_code == ExitCode.INVALID, result.output
    schema = postgres_settings.database_schema
    assert f"no ledger in schema {schema}" in result.output
    assert "@" not in result.output.split(" at ", 1)[1]  # no user or password in the URL
    with psycopg.connect(postgres_settings.database_url or "") as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    assert tables == []


@pytest.mark.postgres
def test_a_missing_postgres_database_is_named_without_the_password(
    postgres_settings: Settings,
) -> None:
    url = (postgres_settings.database_url or "").rsplit("/", 1)[0] + "/no_such_database"
    env = store_env(postgres_settings) | {"RAPPORT_DATABASE_URL": url}
    result = runner.invoke(app, ["metrics"], env=env)
    assert result.exit_code == ExitCode.STORE, result.output
    assert "/no_such_database" in result.output
    password = psycopg.conninfo.conninfo_to_dict(url).get("password")
    assert not password or str(password) not in result.output

"""The command line starts without the stores, Kafka, the web stack or the domain models: help
and a rejected option must not pay for them (the figures: ``python -m infra.bench.startup``;
this test counts modules, not seconds, so a busy machine cannot fail it)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HEAVY = (
    "pydantic", "pydantic_settings", "kafka", "psycopg", "eventsourcing", "duckdb", "pyarrow",
    "structlog", "fastapi", "starlette", "uvicorn", "prometheus_client", "domain.touchpoints",
    "domain.lines", "projections", "consumers", "infra.read", "infra.store", "infra.intake",
    "infra.streaming", "infra.http", "infra.compliance", "infra.core", "infra.synthetic",
)  # fmt: skip
"""Packages (and their submodules) a bare ``import infra.cli.app`` must leave unimported."""

OWN_HEAVY = tuple(name for name in HEAVY if name not in ("pydantic",))
"""Once a command line is parsed, typer (0.29 and later) validates parameters with pydantic
itself; the rest stays out of a help page or a rejected option all the same."""

_PROBE = """
import json, sys
sys.argv = ["rapport", *json.loads(sys.argv[1])]
from infra.cli.app import main
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
sys.__stderr__.write("\\n" + json.dumps(sorted(sys.modules)))
"""


def _imported(code: str, *arguments: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return set(json.loads(done.stderr.rsplit("\n", 1)[-1]))


def _heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_importing_the_command_line_imports_nothing_heavy():
    code = "import json, sys, infra.cli.app; sys.stderr.write(json.dumps(sorted(sys.modules)))"
    assert _heavy(_imported(code), HEAVY) == []


@pytest.mark.parametrize(
    "arguments",
    [
        ["--help"],
        ["metrics", "--help"],
        ["audit", "verify", "--help"],
        ["metrics", "--format", "xml"],
        ["alerts", "--format", "xml"],
        ["journey", "C-1", "--format", "xml"],
        ["payoff", "--format", "xml"],
    ],
    ids=" ".join,
)
def test_help_and_rejected_options_import_nothing_of_rapport_beneath_the_cli(arguments):
    assert _heavy(_imported(_PROBE, json.dumps(arguments)), OWN_HEAVY) == []


def test_the_names_copied_for_help_texts_agree_with_their_originals():
    from infra.cli import options
    from infra.read import metrics, payoff

    assert tuple(metrics.DIMENSIONS) == options.DIMENSIONS
    assert tuple(payoff.HIRING_DIMENSIONS) == options.HIRING_DIMENSIONS
    assert options.SETTLED == metrics.SETTLED

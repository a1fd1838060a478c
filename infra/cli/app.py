"""The ``rapport`` command line: the app that gathers every command family (one module each in
this package) under one name. Exit codes are ``infra.cli.common.ExitCode``.

Importing it is cheap on purpose: the command modules import what a command needs inside it, so
``rapport --help`` and a rejected option answer in a fraction of the time the first real command
takes (``tests/unit/test_cli_startup.py``; ``python -m infra.bench.startup``)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from infra.cli.capture import inbound_command, record_command
from infra.cli.common import ExitCode, say
from infra.cli.compare import compare_command
from infra.cli.compliance import audit_app, erase_command
from infra.cli.demo import demo
from infra.cli.ledger import follow, generate, import_file, rebuild, schemas, summary
from infra.cli.payoff import payoff_command, positions_command
from infra.cli.positions import match_command, shortlist_command
from infra.cli.reading import alerts_command, journey_command, metrics_command
from infra.cli.serve import serve_command, token_app
from infra.cli.streaming import consume_command, kafka_app, relay_command

app = typer.Typer(
    name="rapport",
    help="Rapport: every candidate touchpoint as an immutable event.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help and usage errors: rendering them with rich costs more CPU than the rest of
    # `rapport --help` together (python -m infra.bench.startup).
    rich_markup_mode=None,
)


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"rapport {version('rapport')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("rapport (not installed: version unknown)")
        raise typer.Exit()


@app.callback()
def rapport(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    """Rapport: every candidate touchpoint as an immutable event."""


# The ledger.
app.command("import")(import_file)
app.command("generate")(generate)
app.command("schemas")(schemas)
app.command("summary")(summary)
app.command("rebuild")(rebuild)
app.command("follow")(follow)
# Reading the views.
app.command("journey")(journey_command)
app.command("metrics")(metrics_command)
app.command("compare")(compare_command)
app.command("alerts")(alerts_command)
app.command("match")(match_command)
app.command("shortlist")(shortlist_command)
app.command("positions")(positions_command)
app.command("payoff")(payoff_command)
# Streaming.
app.add_typer(kafka_app, name="kafka")
app.command("relay")(relay_command)
app.command("consume")(consume_command)
# Compliance, apart from the recruiting commands above (see domain.access).
app.add_typer(audit_app, name="audit")
app.command("erase")(erase_command)
# Serving, and live capture.
app.command("serve")(serve_command)
app.command("record")(record_command)
app.command("inbound")(inbound_command)
app.add_typer(token_app, name="token")
app.command("demo")(demo)


def main() -> None:
    try:
        app()
    except Exception as failure:
        # Imported only now: a command that reads the rules has imported them already.
        from projections.alert_rules import AlertRulesError

        if not isinstance(failure, AlertRulesError):
            raise
        say(f"RAPPORT_ALERT_RULES: {failure}")
        sys.exit(ExitCode.INVALID)


if __name__ == "__main__":
    main()

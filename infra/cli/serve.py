"""``rapport serve`` (the HTTP API and the dashboard) and ``rapport token add | list | revoke``."""

from __future__ import annotations

import errno
import gc
import socket
from typing import Annotated

import typer

from domain.access import UserRole
from infra.cli.common import ExitCode, err, out, say, settings_for
from infra.cli.options import DbOption, GroupOption, UrlOption, checked_format, checked_group

token_app = typer.Typer(
    help="API tokens of rapport serve: each maps to one role.", no_args_is_help=True
)


@token_app.command("add")
def token_add(
    role: Annotated[UserRole, typer.Option("--role", help="viewer, recruiter or compliance.")],
    name: Annotated[str, typer.Option("--name", help="Who or what holds it (kept, not secret).")],
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Make a new token; it is printed once, only its SHA-256 is kept (RAPPORT_API_TOKENS_FILE)."""
    from infra.http.tokens import TokensInvalid, add_token

    settings = settings_for(db, database_url)
    try:
        token = add_token(settings.tokens_path, role, name)
    except TokensInvalid as bad:
        say(str(bad))
        raise typer.Exit(ExitCode.INVALID) from None
    err.print(f"token {name!r} ({role.value}) added to {settings.tokens_path}; it is shown once:")
    typer.echo(token)


@token_app.command("list")
def token_list(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """The tokens rapport serve accepts: name, role, when added, a fingerprint of the digest."""
    checked_format(fmt, ("table", "json"))
    import orjson
    from rich.table import Table

    from infra.http.tokens import TokensInvalid, read_tokens

    settings = settings_for(db, database_url)
    path = settings.tokens_path
    try:
        tokens = read_tokens(path)
    except TokensInvalid as bad:
        say(str(bad))
        raise typer.Exit(ExitCode.INVALID) from None
    if fmt == "json":
        document = [
            {"name": t.name, "role": t.role.value, "created": t.created,
             "fingerprint": t.fingerprint}
            for t in tokens
        ]  # fmt: skip
        typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return
    if not tokens:
        say(f"no tokens in {path} (add one with rapport token add --role viewer --name NAME)")
        return
    table = Table("name", "role", "created", "fingerprint (sha256)", title=f"Tokens in {path}")
    for t in tokens:
        table.add_row(t.name, t.role.value, t.created or "-", t.fingerprint)
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Argument(help="The token's name (rapport token list).")],
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Remove a token: rapport serve refuses it once restarted."""
    from infra.http.tokens import NoSuchToken, TokensInvalid, revoke_token

    settings = settings_for(db, database_url)
    try:
        revoked = revoke_token(settings.tokens_path, name)
    except NoSuchToken as unknown:
        say(f"NAME: {unknown.args[0]}")
        raise typer.Exit(ExitCode.INVALID) from None
    except TokensInvalid as bad:
        say(str(bad))
        raise typer.Exit(ExitCode.INVALID) from None
    err.print(
        f"token {name!r} ({revoked.role.value}) revoked from {settings.tokens_path}; a running"
        " rapport serve accepts it until restarted",
        markup=False,
        highlight=False,
    )


def check_port(host: str, port: int) -> None:
    """Exit 2 naming --port when the address cannot be listened on (before any work that
    would be wasted: ``rapport demo --serve`` checks it first)."""
    with socket.socket() as probe:
        # As uvicorn binds: connections of a killed predecessor in TIME_WAIT do not hold the port.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as taken:
            reason = "is in use" if taken.errno == errno.EADDRINUSE else str(taken)
            say(f"--port: {host}:{port} {reason}")
            raise typer.Exit(ExitCode.INVALID) from None


def serve_command(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
    group: GroupOption = None,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """The HTTP API, the dashboard and Prometheus /metrics (until interrupted)."""
    import uvicorn

    from infra.http.app import create_app
    from infra.http.state import ServerState
    from infra.http.tokens import TokensInvalid, load_tokens

    settings = settings_for(db, database_url)
    group = checked_group(group, settings)
    try:
        tokens = load_tokens(settings.tokens_path)
    except TokensInvalid as bad:
        say(f"RAPPORT_API_TOKENS_FILE: {bad}")
        raise typer.Exit(ExitCode.INVALID) from None
    check_port(host, port)
    state = ServerState(settings, tokens, group=group)
    err.print(f"Rapport on http://{host}:{port}/ (API under /api/v1, OpenAPI at /openapi.json)")
    app = create_app(state)
    # Everything loaded so far lives as long as the server: out of the cyclic collector's way, so
    # a full collection during a large answer does not walk it (a 20,000-segment breakdown over
    # HTTP: 344 -> 217-244 ms median, two runs).
    gc.freeze()
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,  # our own request log leaves queries and tokens out
        log_level="warning",
    )

"""The streaming commands: the local broker (``rapport kafka``), the relay and the consumers.

Each long-running command stops cleanly on SIGTERM or Ctrl-C (finishing the batch in hand);
``kill -9`` is safe too, by design, and only costs a batch sent or read again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

import typer

from infra.cli.common import ExitCode, err, opened_ledger, out, say, settings_for
from infra.cli.options import DbOption, UrlOption, checked_format, group_name

if TYPE_CHECKING:
    from infra.core.settings import Settings

BROKER_SCRIPT = Path(__file__).parents[1] / "ops" / "scripts" / "kafka.sh"

kafka_app = typer.Typer(
    help="The local Apache Kafka broker (development and tests) and Rapport's topics.",
    no_args_is_help=True,
)


class _LongRunning(Protocol):
    def run(self, stop: Callable[[], bool]) -> None: ...

    def close(self) -> None: ...


def run_until_stopped(settings: Settings, build: Callable[[], _LongRunning]) -> None:
    """Build a consumer (exit 4 if the broker cannot be reached), run it until SIGTERM or
    Ctrl-C, and close it whatever happens."""
    from kafka.errors import KafkaError

    from infra.streaming.topics import BrokerUnavailable

    stopping = _stop_flag()
    try:
        process = build()
    except (BrokerUnavailable, KafkaError) as down:
        say(f"Kafka at {settings.kafka_bootstrap}: {down}")
        raise typer.Exit(ExitCode.STORE) from None
    try:
        process.run(lambda: stopping[0])
    finally:
        process.close()


def _stop_flag() -> list[bool]:
    """A flag set by SIGTERM or SIGINT, so a loop can finish what it is doing and leave."""
    stopping = [False]

    def _stop(_signum: int, _frame: object) -> None:
        stopping[0] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stopping


def _broker_env(settings: Settings) -> dict[str, str]:
    """The local broker listens where the settings say, when that is one loopback address."""
    servers = settings.kafka_bootstrap.split(",")
    host, _, port = servers[0].rpartition(":")
    if len(servers) != 1 or not (host.startswith("127.") or host == "localhost"):
        raise typer.BadParameter(
            f"RAPPORT_KAFKA_BOOTSTRAP={settings.kafka_bootstrap}: the local broker runs on one"
            " loopback address only"
        )
    return os.environ | {"RAPPORT_KAFKA_PORT": port}


def _script(settings: Settings, action: str) -> int:
    return subprocess.call(["bash", str(BROKER_SCRIPT), action], env=_broker_env(settings))


@kafka_app.command("up")
def kafka_up() -> None:
    """Start the local broker (resolving its jars from Maven Central the first time) and create
    the topics."""
    from kafka.errors import KafkaError

    from infra.streaming.topics import BrokerUnavailable, ensure_topics

    settings = settings_for()
    if _script(settings, "start") != 0:
        raise typer.Exit(ExitCode.STORE)
    try:
        outcome = ensure_topics(settings)
    except (BrokerUnavailable, KafkaError) as down:
        err.print(f"the broker started but the topics could not be created: {down}")
        raise typer.Exit(ExitCode.STORE) from None
    for topic, state in outcome.items():
        out.print(f"{topic}: {state.outcome}, {state.partitions} partition(s)")


@kafka_app.command("down")
def kafka_down() -> None:
    """Stop the local broker (its data stays, for the next `up`)."""

    raise typer.Exit(_script(settings_for(), "stop"))


@kafka_app.command("status")
def kafka_status(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Topics and partitions, the relay's position against the ledger, each group's lag."""
    import orjson
    from kafka.errors import KafkaError
    from rich.table import Table

    from infra.streaming.stream_status import stream_status
    from infra.streaming.topics import BrokerUnavailable

    checked_format(fmt, ("table", "json"))
    settings = settings_for(db, database_url)
    try:
        status = stream_status(settings, _ledger_position(settings))
    except (BrokerUnavailable, KafkaError) as down:
        say(f"Kafka at {settings.kafka_bootstrap}: {down}")
        raise typer.Exit(ExitCode.STORE) from None
    if fmt == "json":
        document = orjson.dumps(
            status.as_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
        )
        typer.echo(document.decode())
        return
    out.print(f"[bold]Kafka[/bold] {status.bootstrap}: up")
    topics = Table(
        "topic",
        "partitions",
        "offsets held",
        title="Topics",
        caption="Offsets are not events: each relay transaction leaves a marker (an offset no"
        " consumer receives) in every partition it wrote to. The relay line counts events.",
    )
    for topic in status.topics:
        topics.add_row(topic.name, str(topic.partitions), f"{topic.offsets:,}")
    out.print(topics)
    if status.relay is not None:
        relay = status.relay
        published = (
            "the relay never ran"
            if relay.published_position is None
            else f"published up to {relay.published_position:,}"
        )
        out.print(
            f"Relay: ledger at {relay.ledger_position:,}, {published}, {relay.behind:,} behind"
        )
    groups = Table("group", "state", "members", "lag", "lag by partition", title="Consumer groups")
    for group in status.groups:
        by_partition = " ".join(f"{p}:{n}" for p, n in sorted(group.lag_by_partition.items()))
        groups.add_row(group.group, group.state, str(group.members), f"{group.lag:,}", by_partition)
    out.print(groups)


def _ledger_position(settings: Settings) -> int | None:
    """The ledger's last position, or None when there is no ledger here to compare with."""
    if not settings.database_url and not settings.db.exists():
        return None
    from eventsourcing.persistence import PersistenceError

    from infra.store.ledger import Ledger

    try:
        ledger = Ledger(settings)
    except PersistenceError:
        return None
    try:
        return ledger.position()
    finally:
        ledger.close()


def _worker(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
        raise typer.BadParameter(
            f"expected i/n with 0 <= i < n, got {text!r}", param_hint="--worker"
        )
    return int(index), int(count)


def relay_command(
    batch: Annotated[int, typer.Option(min=1, help="Events per Kafka transaction.")] = 5_000,
    poll: Annotated[
        float, typer.Option(min=0.001, help="Seconds between polls when idle.")
    ] = 0.005,
    worker: Annotated[
        str, typer.Option(help="Publish only partitions p with p % n == i (i/n).")
    ] = "0/1",
    workers: Annotated[
        int, typer.Option(min=1, help="Run n relay processes, splitting the partitions.")
    ] = 1,
    until_caught_up: Annotated[
        bool, typer.Option("--until-caught-up", help="Stop once everything is published.")
    ] = False,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Publish every recorded touchpoint (without personal data) to the touchpoints topic."""
    from consumers.relay import PartitionsDiffer, Relay
    from infra.streaming.relay_progress import RelayAlreadyRunning

    settings = settings_for(db, database_url)
    if workers > 1:
        arguments = ["--batch", str(batch), "--poll", str(poll)]
        arguments += ["--until-caught-up"] if until_caught_up else []
        raise typer.Exit(_run_workers(workers, arguments, settings))
    stopping = _stop_flag()
    with opened_ledger(settings) as ledger:
        try:
            relay = Relay.connect(
                settings,
                ledger.ledger_recorder,
                batch=batch,
                worker=_worker(worker),
            )
        except RelayAlreadyRunning as busy:
            err.print(str(busy))
            raise typer.Exit(ExitCode.STORE) from None
        with relay:
            try:
                relay.run(lambda: stopping[0], poll_seconds=poll, until_caught_up=until_caught_up)
            except PartitionsDiffer as differ:
                say(str(differ))
                raise typer.Exit(ExitCode.INVALID) from None


def _run_workers(workers: int, arguments: list[str], settings: Settings) -> int:
    """One relay process per worker, each with its share of the partitions; waits for all."""
    env = os.environ | {"RAPPORT_DB": str(settings.db)}
    if settings.database_url:
        env |= {"RAPPORT_DATABASE_URL": settings.database_url}
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "relay", *arguments, "--worker", f"{i}/{workers}"],
            env=env,
        )
        for i in range(workers)
    ]

    def _forward(signum: int, _frame: object) -> None:
        for child in children:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    return max(child.wait() for child in children)


def consume_command(
    group: Annotated[str, typer.Option("--group", help="The consumer group (names its views).")],
    instance: Annotated[
        str | None,
        typer.Option(help="Static member id: a restarted process takes its partitions back."),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Messages per views transaction.")] = 5_000,
    alerts: Annotated[
        bool, typer.Option("--alerts/--no-alerts", help="Publish the group's stale alerts.")
    ] = True,
    alert_interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between evaluations of the alert log.")
    ] = 5.0,
    bulk_from: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Messages on the topic from which views that start from nothing are built in"
            " bulk before consuming (default 20,000; 0: always).",
        ),
    ] = None,
    db: DbOption = None,
    database_url: UrlOption = None,
) -> None:
    """Keep the views of a consumer group from the touchpoints topic (run several to scale)."""
    from consumers.projection_consumer import ProjectionConsumer
    from infra.read.read_side import deployed_projections, group_views_settings
    from infra.read.views import ViewsKeptElsewhere

    group = group_name(group)
    settings = group_views_settings(settings_for(db, database_url), group)

    def build() -> ProjectionConsumer:
        try:
            return ProjectionConsumer.connect(
                settings,
                group,
                deployed_projections(settings, timeline=True),
                instance=instance,
                batch=batch,
                publish_alerts=alerts,
                alert_interval=alert_interval,
                **({} if bulk_from is None else {"bulk_from": bulk_from}),
            )
        except ViewsKeptElsewhere as taken:
            say(str(taken))
            raise typer.Exit(ExitCode.INVALID) from None

    run_until_stopped(settings, build)

"""``rapport demo``: a generated history imported into a fresh embedded ledger, summarised, and
the source document's claims measured on it; then how to explore, audit, stream and serve it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from domain.access import UserRole
from infra.cli.common import ExitCode, opened_ledger, out, say, settings_for
from infra.cli.ledger import generate, import_file, print_summary
from infra.cli.payoff import print_payoff
from infra.cli.serve import check_port, serve_command

if TYPE_CHECKING:
    from infra.read.views import ViewStore


def demo(
    candidates: Annotated[int, typer.Option(min=1)] = 2000,
    seed: Annotated[int, typer.Option()] = 42,
    workdir: Annotated[Path, typer.Option(help="Where the demo's files go.")] = Path("var/demo"),
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the dashboard (--host, --port).")
    ] = False,
    host: Annotated[
        str, typer.Option(help="Address the dashboard listens on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Its port.")] = 8080,
) -> None:
    """Generate a history, import it into a fresh embedded ledger, summarise it; the dashboard.

    The workdir is emptied first, except the API tokens file: tokens handed out before stay
    valid, and the demo's own viewer token ("demo") is renewed."""
    from infra.http.tokens import TokensInvalid, add_token, read_tokens, write_tokens
    from infra.read.read_side import current_views

    if serve:
        check_port(host, port)
    db = workdir / "rapport.db"
    settings = settings_for(db)
    try:
        kept = read_tokens(settings.tokens_path)
    except TokensInvalid as bad:  # not ours to delete: say so, touch nothing
        say(f"{bad}; fix or remove it")
        raise typer.Exit(ExitCode.INVALID) from None
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    if kept and not settings.tokens_path.exists():
        write_tokens(settings.tokens_path, kept)
    data = workdir / "touchpoints.jsonl"
    generate(out_file=data, candidates=candidates, seed=seed, until=None)
    import_file(file=data, db=db, allow_erasures=True)
    with opened_ledger(settings) as ledger:
        print_summary(ledger)
    with current_views(settings) as store:
        _print_engagement_report(store)
    out.print(
        f"\nExplore: rapport metrics --db {db} --by role,channel"
        f" | rapport alerts --db {db} --as-of 2026-10-31"
        f" | rapport journey C-000042 --db {db}"
    )
    out.print(
        f"Audit it: rapport audit verify --db {db}"
        f" | rapport audit export C-000042 --db {db} --format csv"
    )
    out.print(
        f"Stream it: rapport kafka up; rapport relay --db {db};"
        f" rapport consume --group ops --db {db}"
    )
    token = add_token(settings.tokens_path, UserRole.VIEWER, "demo", replace=True)
    where = "" if host == "127.0.0.1" else f" --host {host}"
    where += "" if port == 8080 else f" --port {port}"
    others = len(kept) - any(t.name == "demo" for t in kept)
    out.print(
        f"Dashboard: rapport serve --db {db}{where}{'' if where else ' (or make demo-serve)'},"
        " then open"
        f" http://{host}:{port}/login and paste the viewer token"
        f" {token} (only its digest is kept, in {settings.tokens_path}"
        + (f", beside {others} token(s) kept from before" if others else "")
        + ")",
        markup=False,
        highlight=False,
    )
    if serve:
        serve_command(host=host, port=port, db=db)


def _print_engagement_report(store: ViewStore) -> None:
    """The source document's claims, measured on the generated history."""
    from rich.table import Table

    from infra.read.alerts import open_alerts
    from infra.read.comparison import compare
    from infra.read.metrics import Selection, candidate_experience, engagement_report
    from infra.read.payoff import payoff_report
    from infra.synthetic import generator
    from infra.synthetic.truth import GROUND_TRUTH

    end = generator.DEFAULT_UNTIL
    as_of = end.timestamp()
    report = Table(
        "audience",
        "status",
        "personalization",
        "engagement (95% interval, 1 in N)",
        "pending",
        "generator's truth",
        "inside?",
        title=f"Engagement within 30 days of an outreach, as of {end:%Y-%m-%d}"
        " (pool: sent to a talent-pool member; cold: before they ever joined one)",
        caption="Settled outreach only: delivered, its 30-day window closed by then; the"
        " outreach of the last 30 days is pending, not counted (it would read low).",
    )
    segments = engagement_report(store, ["audience", "status", "personalization"], as_of=as_of)
    for segment in segments:
        audience, status, kind = (segment.values[name] for name in segment.values)
        truths = GROUND_TRUTH.pool_engagement if audience == "pool" else GROUND_TRUTH.engagement
        truth = truths.get((status, kind))  # type: ignore[call-overload]
        low, high = segment.engagement.interval
        inside = "" if truth is None else ("yes" if low <= truth <= high else "no")
        report.add_row(
            str(audience),
            str(status),
            str(kind),
            str(segment.engagement),
            f"{segment.pending:,}",
            f"{truth:.0%}" if truth else "-",
            inside,
        )
    out.print(report)
    passive_cold = Selection(where={"status": "passive", "audience": "cold"})
    for found in compare(
        store, "personalization", "personalized", "generic_blast", as_of=as_of,
        selection=passive_cold,
    ):  # fmt: skip
        out.print(f"Compared: {found.sentence} (ratio {found.ratio or 0:.1f}x, {found.verdict}).")
    out.print(
        "Templated messages measure above their per-message truth: an automated follow-up inside"
        " the first message's 30 days can engage too (expected about 8.5% passive and 18%"
        " active cold, 12% and 25% in the pool)."
    )
    experience = candidate_experience(store, as_of=as_of)
    out.print(
        f"Candidate experience: {experience.personal_within_sla} of {experience.applications:,}"
        f" applications got a personal touch within {experience.sla_hours:g} hours;"
        f" {experience.automated_only:,} got only an automated acknowledgement."
    )
    alerts = open_alerts(store, as_of)
    by_rule = Table("rule", "open alerts", title=f"Stale-contact alerts open on {end:%Y-%m-%d}")
    for rule in sorted({a.rule for a in alerts}):
        by_rule.add_row(rule, f"{sum(a.rule == rule for a in alerts):,}")
    out.print(by_rule)
    payoff = payoff_report(store, store, as_of=as_of)
    print_payoff(payoff)
    low, high = GROUND_TRUTH.pool_shortlist_after_days
    (hiring,) = payoff.hiring
    measured = hiring.to_first_shortlist["pool"]
    out.print(
        f"Generator's truth: each pool shortlisting comes {low}-{high} days after the position"
        f" opened (so the first of several sooner); measured, the first came after a median"
        f" {measured.median or 0:.1f} days over {measured.positions} positions. A consenting"
        f" pool member of the role is shortlisted from a match with probability"
        f" {GROUND_TRUTH.pool_match_shortlist:.0%} when a position opens."
    )

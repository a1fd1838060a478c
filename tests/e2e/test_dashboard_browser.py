"""End to end: `rapport serve` in its own process, the dashboard opened in Debian's headless
Chromium; the charts show the numbers the API gives, a journey opens from an alert, and a
screenshot of each page is saved with the test's output."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from domain.access import UserRole
from infra.core.settings import Settings
from infra.http.tokens import add_token
from tests.support.browser import CHROMIUM, Browser
from tests.support.files import fill, store_env

AS_OF = "2026-10-31"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def api(port: int, token: str, path: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return orjson.loads(answer.read())


def _wait(browser: Browser, done: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not done():
        assert time.monotonic() < deadline, f"the {what} page did not open"
        time.sleep(0.1)
    while browser.evaluate("document.readyState") != "complete":
        time.sleep(0.1)


def _go(browser: Browser, url: str, token: str) -> None:
    browser.open(url, {"Authorization": f"Bearer {token}"})
    _wait(browser, lambda: True, url)


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium here")
def test_the_dashboard_renders_the_real_numbers_in_chromium(
    settings: Settings, tmp_path: Path
) -> None:
    fill(settings, 300, 9, tmp_path, positions=True)
    tokens_file = tmp_path / "tokens.json"
    token = add_token(tokens_file, UserRole.VIEWER, "ops-screen")
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "serve", "--port", str(port)],
        env=os.environ | store_env(settings) | {"RAPPORT_API_TOKENS_FILE": str(tokens_file),
                                                "RAPPORT_LOG_FORMAT": "json"},
        stdout=log,
        stderr=log,
    )  # fmt: skip
    browser = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if api(port, token, "/api/v1/ready")["ready"]:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.3)
        engagement = api(port, token, f"/api/v1/metrics/engagement?as_of={AS_OF}")
        funnel = api(port, token, f"/api/v1/metrics/funnel?as_of={AS_OF}")
        alerts = api(port, token, f"/api/v1/alerts?as_of={AS_OF}")
        assert engagement["segments"] and alerts["count"] > 0

        browser = Browser()
        browser.open(
            f"http://127.0.0.1:{port}/?as_of={AS_OF}", {"Authorization": f"Bearer {token}"}
        )
        assert browser.evaluate("document.title") == "Rapport"
        shown = browser.evaluate(
            "[...document.querySelectorAll('[data-chart=engagement] desc.value')]"
            ".map(e => e.textContent)"
        )
        expected = {f"{s['engagement']['rate'] * 100:.1f}%" for s in engagement["segments"]}
        assert expected <= set(shown), (expected, shown)
        bars = browser.evaluate(
            "document.querySelectorAll('[data-chart=engagement] rect.rect.reactive').length"
        )
        assert bars == len(engagement["segments"])
        # The bars were laid out by the browser: each has a real height on the screen.
        heights = browser.evaluate(
            "[...document.querySelectorAll('[data-chart=engagement] rect.rect.reactive')]"
            ".map(r => r.getBoundingClientRect().height)"
        )
        assert all(h > 0 for h in heights) and len(set(heights)) > 1
        funnel_values = browser.evaluate(
            "[...document.querySelectorAll('[data-chart=funnel] desc.value')]"
            ".map(e => e.textContent)"
        )
        assert {str(s["candidates"]) for s in funnel["stages"]} <= set(funnel_values)
        # The trend is by month sent, one point per month with outreach counted, with its n.
        months = api(port, token, f"/api/v1/metrics/engagement?as_of={AS_OF}&by=cohort_month")
        counted = [s for s in months["segments"] if s["outreach"]]
        trend_points = browser.evaluate(
            "document.querySelectorAll('[data-chart=trend] circle.dot').length"
        )
        assert trend_points == len(counted) > 10
        assert browser.evaluate(
            "[...document.querySelectorAll('[data-table=trend] tr')].length - 1"
        ) == len(months["segments"])
        # No "1 in 1" anywhere, and the definitions are on the page.
        assert "1 in 1 " not in browser.evaluate("document.body.innerText")
        assert browser.evaluate("document.querySelector('#definitions dl').children.length") > 8
        assert browser.evaluate(
            "document.querySelector('#alerts h2 [data-value]').dataset.value"
        ) == str(alerts["count"])
        browser.screenshot(tmp_path / "dashboard.png", max_height=2400)
        assert (tmp_path / "dashboard.png").stat().st_size > 50_000

        first = alerts["alerts"][0]["candidate"]
        browser.evaluate(f"document.querySelector('a[href=\"/journeys/{first}\"]').click()")
        deadline = time.monotonic() + 30
        while browser.evaluate("location.pathname") != f"/journeys/{first}":
            assert time.monotonic() < deadline, "the journey page did not open"
            time.sleep(0.1)
        while browser.evaluate("document.readyState") != "complete":
            time.sleep(0.1)
        journey = api(port, token, f"/api/v1/journeys/{first}")
        assert (
            browser.evaluate("document.querySelector('[data-stage]').dataset.stage")
            == journey["stage"]
        )
        assert browser.evaluate("document.querySelector('.timeline').dataset.steps") == str(
            len(journey["steps"])
        )
        browser.screenshot(tmp_path / "journey.png")

        # Another breakdown, chosen in the form: the table is the API's, row for row.
        _go(browser, f"http://127.0.0.1:{port}/?as_of={AS_OF}", token)
        browser.evaluate(
            "document.querySelector('form.slice select[name=by]').value = 'channel';"
            "document.querySelector('form.slice').submit()"
        )
        _wait(browser, lambda: "by=channel" in browser.evaluate("location.search"), "breakdown")
        channels = api(port, token, f"/api/v1/metrics/engagement?as_of={AS_OF}&by=channel")
        rows = browser.evaluate(
            "[...document.querySelectorAll('[data-table=segments] tr')].slice(1)"
            ".map(r => [...r.cells].map(c => c.textContent.trim()))"
        )
        assert [(r[0], r[4].replace(",", "")) for r in rows] == [
            (s["channel"], str(s["outreach"])) for s in channels["segments"]
        ]
        browser.screenshot(tmp_path / "by-channel.png", max_height=2400)
        # Its CSV download holds the same rows (fetched by the page, with its credentials).
        href = browser.evaluate("document.querySelector('a[data-csv=segments]').href")
        text = browser.evaluate(
            f"fetch({orjson.dumps(href).decode()}).then(r => r.text())", wait=True
        )
        lines = text.strip().splitlines()
        assert lines[0].startswith("channel,sent,bounced,bounce_rate,pending,outreach,engaged")
        assert [line.split(",")[0] for line in lines[1:]] == [
            s["channel"] for s in channels["segments"]
        ]
        assert [int(line.split(",")[5]) for line in lines[1:]] == [
            s["outreach"] for s in channels["segments"]
        ]
        # Drill down from the first channel to its candidates, then to one's journey.
        first_channel = channels["segments"][0]
        browser.evaluate("document.querySelector('[data-table=segments] td a').click()")
        _wait(browser, lambda: browser.evaluate("location.pathname") == "/segments", "drill")
        total = int(browser.evaluate("document.querySelector('#segment').dataset.total"))
        assert 0 < total <= first_channel["outreach"]
        refs = browser.evaluate(
            "[...document.querySelectorAll('[data-table=candidates] td a')].map(a => a.textContent)"
        )
        assert refs and all(ref.startswith("C-") for ref in refs)  # references only
        assert "@" not in browser.evaluate("document.body.innerText")
        browser.screenshot(tmp_path / "segment.png", max_height=2400)
        # A recruiter's page: their open alerts are the API's for them.
        owner = next(a["recruiter"] for a in alerts["alerts"] if a["recruiter"])
        theirs = api(port, token, f"/api/v1/alerts?as_of={AS_OF}&recruiter={owner}")
        _go(browser, f"http://127.0.0.1:{port}/recruiters/{owner}?as_of={AS_OF}", token)
        assert browser.evaluate(
            "document.querySelector('#alerts h2 [data-value]').dataset.value"
        ) == str(theirs["count"])
        assert int(browser.evaluate("document.querySelector('#workload [data-value]')"
                                    ".dataset.value")) > 0  # fmt: skip
        browser.screenshot(tmp_path / "recruiter.png", max_height=2400)
        # As known at an instant: the board rebuilt from what had been recorded by then (the
        # history was recorded at 2026-11-01 00:00 UTC, the tests' clock), as the API says it.
        known = "2026-11-01T00:00:00%2B00:00"
        then = api(port, token, f"/api/v1/alerts?as_of={AS_OF}&known_at={known}")
        _go(browser, f"http://127.0.0.1:{port}/?as_of={AS_OF}&known_at={known}", token)
        assert browser.evaluate("document.querySelector('[data-known-at]') !== null")
        assert (
            browser.evaluate("document.querySelector('#alerts h2 [data-value]').dataset.value")
            == str(then["count"])
            == str(alerts["count"])
        )
        # A bad date is a page saying so, not raw JSON.
        _go(browser, f"http://127.0.0.1:{port}/?as_of=yesterday", token)
        assert browser.evaluate("document.querySelector('#error').dataset.status") == "422"
        assert "as_of" in browser.evaluate("document.querySelector('.error').textContent")

        # The positions page: the pool's payoff as the API gives it, and a position's matches.
        payoff = api(port, token, f"/api/v1/metrics/payoff?as_of={AS_OF}")
        listed = api(port, token, f"/api/v1/positions?as_of={AS_OF}&status=all")["positions"]
        browser.open(
            f"http://127.0.0.1:{port}/positions?as_of={AS_OF}",
            {"Authorization": f"Bearer {token}"},
        )
        engaged = browser.evaluate(
            "[...document.querySelectorAll('[data-table=audience] td[data-value]')]"
            ".map(e => e.dataset.value)"
        )
        assert engaged == [f"{s['engagement']['rate'] * 100:.1f}" for s in payoff["audience"]]
        links = browser.evaluate(
            "[...document.querySelectorAll('[data-table=positions] a')].map(a => a.textContent)"
        )
        assert links == [p["requisition"] for p in listed] and links
        browser.screenshot(tmp_path / "positions.png", max_height=2400)
        opened = links[0]
        browser.evaluate(f"document.querySelector('a[href=\"/positions/{opened}\"]').click()")
        deadline = time.monotonic() + 30
        while browser.evaluate("location.pathname") != f"/positions/{opened}":
            assert time.monotonic() < deadline, "the position's page did not open"
            time.sleep(0.1)
        while browser.evaluate("document.readyState") != "complete":
            time.sleep(0.1)
        matches = api(port, token, f"/api/v1/positions/{opened}/matches")["matches"]
        ranks = browser.evaluate(
            "[...document.querySelectorAll('[data-table=matches] tr')].length - 1"
        )
        assert ranks == max(len(matches), 1)  # "nobody passes the filters" is a row too
        browser.screenshot(tmp_path / "position.png")
        served = (tmp_path / "serve.log").read_bytes()
        assert token.encode() not in served
    finally:
        if browser is not None:
            browser.close()
        server.terminate()
        server.wait(timeout=30)
        log.close()

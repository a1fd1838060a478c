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
        trend_points = browser.evaluate(
            "document.querySelectorAll('[data-chart=trend] circle.dot').length"
        )
        assert trend_points > 20
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

"""A real ``rapport serve`` process for the tests that need its sockets, not an in-process app."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from infra.core.settings import Settings
from tests.support.files import store_env
from tests.support.streaming import kill, tails

PRODUCER = """
import sys, time, urllib.request
url, token, path = sys.argv[1:4]
batch, pause = int(sys.argv[4]), float(sys.argv[5])
lines = open(path, "rb").read().splitlines()
for i in range(0, len(lines), batch):
    body = b"[" + b",".join(lines[i:i + batch]) + b"]"
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        assert answer.status in (200, 201), answer.status
    print(i + batch, flush=True)
    time.sleep(pause)
"""


def producer(url: str, token: str, data: Path, batch: int = 25, pause: float = 0) -> list[str]:
    """The command of a CRM that posts a JSON Lines file to the batch endpoint, in order."""
    return [sys.executable, "-c", PRODUCER, url, token, str(data), str(batch), str(pause)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """``rapport serve`` on a loopback port, its output in ``log``; started, killed, restarted."""

    def __init__(self, settings: Settings, tokens_file: Path, log: Path, port: int = 0) -> None:
        self.settings = settings
        self.port = port or free_port()
        self.log = log
        self.env = self.environment(settings) | {"RAPPORT_API_TOKENS_FILE": str(tokens_file)}
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def environment(settings: Settings) -> dict[str, str]:
        """The environment of a Rapport process on the same store as ``settings``."""
        return os.environ | store_env(settings) | {"RAPPORT_LOG_FORMAT": "json"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "infra.cli", "serve", "--port", str(self.port)],
                env=self.env, stdout=sink, stderr=sink)  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=5) as answer:
                    if answer.status == 200:
                        return  # the liveness probe answers, no token needed
            except urllib.error.HTTPError as refused:
                raise AssertionError(
                    f"rapport serve answered its liveness probe {refused.code}"
                    + tails((self.log,), 30)
                ) from None
            except OSError:
                code = self.process.poll()
                if code is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"rapport serve did not answer (exit {code})" + tails((self.log,), 30)
                    ) from None
                time.sleep(0.2)

    def kill(self) -> None:
        if self.process is not None:
            kill(self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        return tails((self.log,), 30)

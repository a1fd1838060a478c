"""Startup benchmark: the CPU a ``rapport`` invocation spends before it does anything.

``python -m infra.bench.startup [--runs 7]`` (``make bench``). Every command runs in a fresh
interpreter, ``--runs`` times; the CPU time is user + system of the child, read with
``resource.getrusage(RUSAGE_CHILDREN)`` around each run (wall time would count the machine's
load), and the median is kept. The peer is an interpreter that does nothing (``python -c
pass``): what remains above it is Rapport's own imports and typer's parsing. The target: help
and option errors well under 0.25 s of CPU, since they are what a person meets first.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

TARGET_SECONDS = 0.25


def _rapport() -> list[str]:
    """The ``rapport`` console script of this interpreter's environment, else ``-m infra.cli``."""
    script = Path(sys.executable).parent / "rapport"
    return [str(script)] if script.exists() else [sys.executable, "-m", "infra.cli"]


def commands() -> dict[str, list[str]]:
    """What is measured, by name: the baseline first."""
    rapport = _rapport()
    return {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "python -c 'import infra.cli.app'": [sys.executable, "-c", "import infra.cli.app"],
        "rapport --help": [*rapport, "--help"],
        "rapport metrics --help": [*rapport, "metrics", "--help"],
        "rapport metrics --format xml": [*rapport, "metrics", "--format", "xml"],
    }


def cpu_seconds(argv: list[str]) -> float:
    """User + system CPU of one run of ``argv`` (its exit code does not matter: option errors
    are measured too)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_cpu(argv: list[str], runs: int) -> float:
    """The median over ``runs`` (one warm-up run first, so the file cache is the same for all)."""
    cpu_seconds(argv)
    return statistics.median(cpu_seconds(argv) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="Runs of each command (median).")
    arguments = parser.parse_args()
    # No colours, no terminal width probing: the same work whatever the terminal.
    os.environ.setdefault("NO_COLOR", "1")
    figures = {name: median_cpu(argv, arguments.runs) for name, argv in commands().items()}
    baseline = next(iter(figures.values()))
    print(f"Startup CPU (user+sys), median of {arguments.runs} runs, {sys.executable}")
    print(f"{'command':<36} {'CPU s':>7} {'x baseline':>11} {'above it s':>11}  target")
    for name, seconds in figures.items():
        above = seconds - baseline
        target = "" if name.startswith("python") else (
            "ok" if seconds < TARGET_SECONDS else f"over {TARGET_SECONDS:g} s")  # fmt: skip
        ratio = seconds / baseline if baseline else float("nan")
        print(f"{name:<36} {seconds:>7.3f} {ratio:>11.1f} {above:>11.3f}  {target}")


if __name__ == "__main__":
    main()

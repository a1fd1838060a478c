"""Rates as recruiters should read them: a share, how sure we are of it, and "1 in N".

Why: "one in five passive candidates engage" means little without the sample behind it. A rate
from 12 messages and one from 12,000 must not look the same on a dashboard, so every rate
carries its count and a 95% Wilson score interval (which, unlike the textbook normal
approximation, stays inside [0, 1] and behaves for small samples and rates near 0).
Pure functions: no I/O, nothing of ours imported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

_DASH = "\u2013"

Z_95 = 1.959964
"""The standard normal quantile of a two-sided 95% interval (1.9599640, to the precision the
issue asked for; textbooks' 1.96 widens every interval a hair)."""


@lru_cache(maxsize=1 << 16)
def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of ``successes`` out of ``n`` (``(0, 1)`` when n is 0).

    Remembered: a breakdown of thousands of small segments asks for the same few pairs again
    and again."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..n, got {successes} of {n}")
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    denominator = 1 + z2 / n
    low = (centre - spread) / denominator
    high = (centre + spread) / denominator
    # At the extremes the formula's rounding can stray a hair outside [0, 1] or past p.
    return (0.0 if successes == 0 else max(0.0, low), 1.0 if successes == n else min(1.0, high))


ONE_IN_AT_MOST = 0.5
"""Above a half, "1 in N" stops reading sensibly ("1 in 1" for 94%): the share says it."""


def newcombe(
    successes_a: int, n_a: int, successes_b: int, n_b: int, z: float = Z_95
) -> tuple[float, float]:
    """The interval of the difference of two independent rates, a minus b, by Newcombe's
    hybrid score method (his method 10, 1998): built from each rate's Wilson interval, so it
    stays within [-1, 1] and behaves for small samples and rates near 0 or 1, where the
    textbook Wald interval does not."""
    p_a = successes_a / n_a if n_a else 0.0
    p_b = successes_b / n_b if n_b else 0.0
    low_a, high_a = wilson(successes_a, n_a, z)
    low_b, high_b = wilson(successes_b, n_b, z)
    difference = p_a - p_b
    return (
        difference - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2),
        difference + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2),
    )


@lru_cache(maxsize=1 << 16)
def one_in(rate: float) -> str | None:
    """``"1 in N"`` with N = round(1/rate); ``"none"`` when nothing succeeded; None above a
    half, where the percentage reads better."""
    if rate <= 0:
        return "none"
    if rate > ONE_IN_AT_MOST:
        return None
    return f"1 in {round(1 / rate):,}"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), linear between order statistics; None when empty.

    The same interpolation as numpy's default, so figures can be checked with common tools.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    below, above = order_statistics(len(ordered), q)
    return interpolated(ordered[below], ordered[above], len(ordered), q)


def order_statistics(n: int, q: float) -> tuple[int, int]:
    """The 0-based ranks of the two sorted values the ``q``-th percentile of ``n`` lies between
    (a database can return just those two instead of every value)."""
    below = math.floor((n - 1) * q / 100)
    return below, min(below + 1, n - 1)


def interpolated(low: float, high: float, n: int, q: float) -> float:
    """The ``q``-th percentile of ``n`` values from its two order statistics."""
    rank = (n - 1) * q / 100
    return low + (high - low) * (rank - math.floor(rank))


class Rate(NamedTuple):
    """``successes`` out of ``n``, with its 95% Wilson interval.

    A named tuple rather than a frozen dataclass: a breakdown makes two per segment, tens of
    thousands at a time, and a tuple is made in a third of the time."""

    successes: int
    n: int

    @property
    def value(self) -> float:
        return self.successes / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.successes, self.n)

    @property
    def one_in(self) -> str | None:
        return one_in(self.value)

    def __str__(self) -> str:
        """``20.1% [18.0-22.4] 1 in 5 (n=1,234)`` (an en dash in the range): how tables show it."""
        if not self.n:
            return "- (n=0)"
        low, high = self.interval
        interval = f"[{low * 100:.1f}{_DASH}{high * 100:.1f}]"
        reading = f" {self.one_in}" if self.one_in else ""
        return f"{self.value:.1%} {interval}{reading} (n={self.n:,})"

    def as_dict(self) -> dict[str, object]:
        successes, n, rate = self.successes, self.n, self.value
        low, high = wilson(successes, n)
        return {
            "successes": successes,
            "n": n,
            "rate": rate,
            "low": low,
            "high": high,
            "one_in": one_in(rate),
        }

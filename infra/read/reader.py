"""What a query over the views needs: statements with ``?`` placeholders, rows back.

The views themselves (``ViewStore``) and their columnar copy (``ColumnarCopy.snapshot()``) both
answer it, so one query function serves either and their answers can be held equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Reader(Protocol):
    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

"""Structured logs (structlog): JSON when not on a terminal, and never any personal data.

Nothing in Rapport logs a touchpoint's ``personal`` field on purpose; the scrubber below is
the safety net for the day someone passes the wrong object to a log call.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

PERSONAL_KEYS = frozenset(
    {"personal", "name", "email", "phone", "body", "subject", "notes", "text", "touchpoint"}
)


def drop_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in PERSONAL_KEYS.intersection(event_dict):
        event_dict[key] = "[personal data withheld]"
    return event_dict


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    """Whatever ``sys.stderr`` is now (test runners swap it)."""
    return structlog.PrintLogger(sys.stderr)


def configure(level: str = "info", fmt: str = "auto") -> None:
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            drop_personal_data,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )

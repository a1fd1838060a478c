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


MEMBERSHIP_LOGGER = "kafka.coordinator"
"""kafka-python's consumer-group membership (joins, assignments, revocations, heartbeat
failures): what explains a member that stops consuming. Identifiers only, no messages."""


class _ToStructlog(logging.Handler):
    """Standard-library records as structlog events, so they are JSON and scrubbed too."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            structlog.get_logger(record.name).log(
                record.levelno, "kafka.membership", logger=record.name, detail=record.getMessage()
            )
        except Exception:  # a log line must never break the consumer
            self.handleError(record)


def log_group_membership() -> None:
    """Route kafka-python's group-membership logs (INFO and up) into ours; for the processes
    that are members of a consumer group."""
    membership = logging.getLogger(MEMBERSHIP_LOGGER)
    if not any(isinstance(handler, _ToStructlog) for handler in membership.handlers):
        membership.addHandler(_ToStructlog())
    membership.setLevel(logging.INFO)
    membership.propagate = False

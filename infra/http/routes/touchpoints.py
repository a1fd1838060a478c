"""The touchpoints write API: touchpoints recorded the moment a recruiter, the email platform or
the CRM reports them (role: recruiter; an ``erasure_requested`` needs the compliance role, and is
recorded as requested by the token's holder whatever the body says). The answers are
``infra.http.recording``'s."""

from __future__ import annotations

from fastapi import APIRouter

from infra.http.deps import API
from infra.http.recording import TOUCHPOINTS, add_capture_routes

router = APIRouter(prefix=f"{API}/touchpoints", tags=["capture"])
add_capture_routes(
    router,
    TOUCHPOINTS,
    one="Record one touchpoint (the import format).",
    batch="Record up to MAX_BATCH touchpoints in one transaction: all of them, or none.",
)

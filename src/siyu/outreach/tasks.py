"""Outreach jobs: drain the send queue (one transaction per row), close finished broadcasts."""

from __future__ import annotations

import logging

from siyu.db import unit_of_work
from siyu.jobs import job, periodic_job
from siyu.outreach import service

logger = logging.getLogger("siyu.outreach")

# Rows one job run sends at most; the periodic job picks up the rest a minute later.
DRAIN_LIMIT = 500


def drain_queue(broadcast_id: int | None = None, limit: int = DRAIN_LIMIT) -> int:
    """Send due rows one per transaction until none is due; returns how many were handled.
    Safe to run in several workers at once (each row is claimed by exactly one)."""
    handled = 0
    while handled < limit:
        with unit_of_work() as session:
            outcome = service.send_next(session, broadcast_id)
        if outcome is None:
            break
        handled += 1
    with unit_of_work() as session:
        service.finish_done(session)
    return handled


@job("outreach.drain")
def drain(broadcast_id: int) -> None:
    """Idempotent: rows already sent are not queued any more."""
    drain_queue(broadcast_id)


@periodic_job("outreach.send_due", minute="*")
def send_due() -> None:
    handled = drain_queue()
    if handled:
        logger.info("outreach: %d due sends handled", handled)

"""Outreach jobs: drain the send queue (one transaction per row), close finished broadcasts."""

from __future__ import annotations

import logging
import time

from siyu.db import unit_of_work
from siyu.jobs import job, periodic_job
from siyu.outreach import service

logger = logging.getLogger("siyu.outreach")

# Rows one job run handles at most, and how long it keeps waiting for rows that fall due (the
# periodic job starts again a minute later): paced rows are seconds apart, so a run that
# stopped at the first not-yet-due row would send one message per account per minute.
DRAIN_LIMIT = 5000
KEEP_RUNNING_SECONDS = 55.0


def drain_queue(
    broadcast_id: int | None = None, limit: int = DRAIN_LIMIT, keep_running: float = 0.0
) -> int:
    """Send due rows one per transaction; returns how many were handled. With
    ``keep_running`` it also waits (sleeps) for rows falling due within that many seconds.
    Safe to run in several workers at once (each row is claimed by exactly one)."""
    handled = 0
    deadline = time.monotonic() + keep_running
    while handled < limit:
        with unit_of_work() as session:
            outcome = service.send_next(session, broadcast_id)
        if outcome is not None:
            handled += 1
            continue
        with unit_of_work() as session:
            wait = service.seconds_until_next_due(session, broadcast_id)
        if wait is None or time.monotonic() + wait > deadline:
            break
        time.sleep(max(0.05, wait))
    with unit_of_work() as session:
        service.finish_done(session)
    return handled


@job("outreach.drain")
def drain(broadcast_id: int) -> None:
    """What is due right after a start or retry; idempotent (sent rows are not queued any
    more). It does not wait: the periodic job does, so at most one job worker waits on the
    queue (the embedded consumer has only a few)."""
    drain_queue(broadcast_id)


@periodic_job("outreach.send_due", minute="*")
def send_due() -> None:
    handled = drain_queue(keep_running=KEEP_RUNNING_SECONDS)
    if handled:
        logger.info("outreach: %d due sends handled", handled)

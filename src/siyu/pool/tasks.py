"""Pool jobs: process channel events, announce pending adds, expire stale reservations."""

from __future__ import annotations

import logging

from siyu.db import unit_of_work
from siyu.jobs import job, periodic_job
from siyu.pool import events, service

logger = logging.getLogger("siyu.pool")


@job("pool.process_event")
def process_event(event_id: int) -> None:
    """Idempotent: a processed event is skipped (the row is locked, then re-read)."""
    with unit_of_work() as session:
        events.process(session, event_id)


@job("pool.announce_pending")
def announce_pending(contact_id: int) -> None:
    with unit_of_work() as session:
        service.announce_pending(session, contact_id)


@periodic_job("pool.expire_pending", minute="*/15")
def expire_pending() -> None:
    with unit_of_work() as session:
        expired = service.expire_pending(session)
    if expired:
        logger.info("released %d expired pending adds", expired)


# Batches per run of the backlog drain: bounded so one run stays well inside its minute.
BACKLOG_BATCHES = 50


@periodic_job("pool.drain_events", minute="*")
def drain_events() -> None:
    """The backlog path: events older than ``events.BACKLOG_AGE`` still unprocessed are applied
    ``events.BACKLOG_BATCH`` per transaction with ``events.process_many`` (one lock statement per
    batch, the flows' prefetch), each still exactly once. Fresh events keep their own job."""
    drained = 0
    for _ in range(BACKLOG_BATCHES):
        with unit_of_work() as session:
            ids = events.backlog(session)
            if not ids:
                break
            events.process_many(session, ids)
        drained += len(ids)
    if drained:
        logger.info("drained %d backlogged channel events", drained)

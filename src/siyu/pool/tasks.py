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

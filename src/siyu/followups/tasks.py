"""Follow-up jobs: find new triggers (every 10 minutes), send what is due (every minute)."""

from __future__ import annotations

import logging

from siyu.db import unit_of_work
from siyu.followups import service
from siyu.jobs import enqueue, job, periodic_job

logger = logging.getLogger(__name__)


@periodic_job("followups.scan", minute="*/10")
def scan() -> None:
    with unit_of_work() as session:
        created = service.scan(session)
    if any(created.values()):
        logger.info("follow-ups planned: %s", created)


@job("followups.send")
def send(followup_id: int) -> None:
    with unit_of_work() as session:
        service.send(session, followup_id)


@periodic_job("followups.send_due", minute="*")
def send_due() -> None:
    with unit_of_work() as session:
        for followup_id in service.due(session):
            enqueue(session, send, followup_id)

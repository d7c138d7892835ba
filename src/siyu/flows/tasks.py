"""Flow jobs: fire due reminders and timeouts."""

from __future__ import annotations

import logging

from siyu.db import unit_of_work
from siyu.flows import service
from siyu.jobs import job, periodic_job

logger = logging.getLogger("siyu.flows")


@periodic_job("flows.fire_timers", minute="*")
def fire_timers() -> None:
    """Idempotent: each due conversation is locked and its timer recomputed from the row."""
    with unit_of_work() as session:
        fired = service.fire_due_timers(session)
    if fired:
        logger.info("fired %d conversation timers", fired)


@job("flows.fire_timer")
def fire_timer(conversation_id: int) -> None:
    with unit_of_work() as session:
        service.fire_timer(session, conversation_id)

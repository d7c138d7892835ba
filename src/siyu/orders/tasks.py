"""Order jobs (declared with siyu.jobs)."""

from __future__ import annotations

import logging

from siyu.db import unit_of_work
from siyu.jobs import periodic_job
from siyu.orders import service

logger = logging.getLogger("siyu.orders")


# Hourly: an order confirms at most an hour after its auto-confirm time, well inside a 10-day wait.
@periodic_job("orders.auto_confirm", minute="7")
def auto_confirm() -> None:
    """Confirm receipt of every due paid/shipped order (idempotent: a rerun finds none due).

    One short transaction per batch, so a backlog never holds locks for long.
    """
    total = 0
    while True:
        with unit_of_work() as session:
            confirmed = service.auto_confirm_due(session)
        total += len(confirmed)
        if len(confirmed) < service.AUTO_CONFIRM_BATCH:
            break
    if total:
        logger.info("auto-confirmed %d orders", total)

"""Commission jobs (declared with siyu.jobs). Each opens its own unit of work and re-reads state."""

from __future__ import annotations

import logging

from siyu.commissions import service
from siyu.db import unit_of_work
from siyu.jobs import periodic_job
from siyu.kit.time import utc_now

logger = logging.getLogger("siyu.commissions")


# 17:00 UTC = 01:00 Asia/Shanghai: the day's receipts are in, nobody is withdrawing.
@periodic_job("commissions.settle_due", minute="0", hour="17")
def settle_due() -> None:
    """Settle every pending commission whose hold is over (idempotent; one transaction)."""
    with unit_of_work() as session:
        count = service.settle_due(session, utc_now())
    logger.info("settled %s commissions", count)

"""Promoter jobs (declared with siyu.jobs). Each opens its own unit of work and re-reads state."""

from __future__ import annotations

import logging

from siyu.db import unit_of_work
from siyu.jobs import job, periodic_job
from siyu.promoters import service

logger = logging.getLogger("siyu.promoters")

BATCH_SIZE = 500


@job("promoters.evaluate_grade")
def evaluate_grade(promoter_id: int) -> None:
    """Upgrade one promoter (queued for the inviter and the inviter's inviter after a binding)."""
    with unit_of_work() as session:
        grade = service.evaluate_grade(session, promoter_id)
    if grade is not None:
        logger.info("promoter %s upgraded to %s", promoter_id, grade.code)


# 18:30 UTC = 02:30 Asia/Shanghai, after the day's sign-ups and before the morning's work.
@periodic_job("promoters.evaluate_grades", minute="30", hour="18")
def evaluate_grades() -> None:
    """Evaluate every active promoter, one short transaction per batch of ids."""
    after_id = 0
    while True:
        with unit_of_work() as session:
            last_id = service.evaluate_grades_batch(session, after_id, BATCH_SIZE)
        if last_id is None:
            return
        after_id = last_id

"""Moments jobs: publish what is due (every minute), plan the day's likes/comments (daily)."""

from __future__ import annotations

import logging

from siyu.db import unit_of_work
from siyu.jobs import enqueue, job, periodic_job
from siyu.moments import service

log = logging.getLogger(__name__)


@job("moments.publish")
def publish(publication_id: int) -> None:
    with unit_of_work() as session:
        service.publish(session, publication_id)


@periodic_job("moments.publish_due", minute="*")
def publish_due() -> None:
    with unit_of_work() as session:
        for publication_id in service.due_publications(session):
            enqueue(session, publish, publication_id)


@job("moments.plan_interactions")
def plan_interactions(account_id: int) -> None:
    with unit_of_work() as session:
        plan = service.plan_interactions(session, account_id)
        if plan.likes:
            log.info(
                "moments: account %s likes %s, comments %s", account_id, plan.likes, plan.comments
            )


# 02:00 UTC = 10:00 Asia/Shanghai: after people post their morning moments.
@periodic_job("moments.plan_all_interactions", minute="0", hour="2")
def plan_all_interactions() -> None:
    with unit_of_work() as session:
        for account_id in service.live_account_ids(session):
            enqueue(session, plan_interactions, account_id)

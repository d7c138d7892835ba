"""Campaign jobs: the end-of-campaign coupon-group invitations and the optional OCR suggestion
for an uploaded proof. Both take ids, re-read state and are idempotent."""

from __future__ import annotations

import logging

from siyu.campaigns import hooks, service
from siyu.db import unit_of_work
from siyu.jobs import job

logger = logging.getLogger("siyu.campaigns")
hooks.install()


@job("campaigns.invite_participants")
def invite_participants(campaign_id: int) -> None:
    """Participants already invited are skipped, so a retry or a second run sends nothing."""
    with unit_of_work() as session:
        invited = service.invite_participants(session, campaign_id)
    logger.info("campaign %d: %d participants invited to the coupon groups", campaign_id, invited)


@job("campaigns.suggest_proof")
def suggest_proof(proof_id: int) -> None:
    with unit_of_work() as session:
        service.store_suggestion(session, proof_id)

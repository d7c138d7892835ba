"""Concurrent claims never oversell and never issue twice (SQLite and PostgreSQL, threads)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select
from tests.campaigns.conftest import GANZHOU, ZHOUKOU, World

from siyu.auth.principal import Principal
from siyu.campaigns import service
from siyu.campaigns.rules import ClaimOutcome
from siyu.campaigns.schemas import DistrictStockIn, TierIn
from siyu.db import Database
from siyu.models.campaigns import CampaignInventory, CampaignReward

WORKERS = 6


def _claim_all(database: Database, participant_ids: list[int]) -> list[ClaimOutcome]:
    barrier = threading.Barrier(WORKERS)
    lock = threading.Lock()
    outcomes: list[ClaimOutcome] = []
    # Every participant claims twice, from two different threads.
    work = participant_ids + list(reversed(participant_ids))
    chunks = [work[index::WORKERS] for index in range(WORKERS)]

    def run(chunk: list[int]) -> None:
        barrier.wait()
        for participant_id in chunk:
            for _attempt in range(30):
                try:
                    with database.sessions() as session:
                        outcome = service.claim(session, participant_id).outcome
                        session.commit()
                    break
                except Exception as error:  # lock/serialisation retry, like a job would
                    text = str(error).lower()
                    if not any(word in text for word in ("locked", "deadlock", "serializ")):
                        raise
            with lock:
                outcomes.append(outcome)

    with ThreadPoolExecutor(max_workers=WORKERS) as executor:
        list(executor.map(run, chunks))
    return outcomes


def test_concurrent_claims_never_oversell(database: Database, admin: Principal) -> None:
    with database.sessions() as session:
        world = World(session, admin).setup()
        stock = [
            TierIn(
                name="拉杆箱",
                threshold=1,
                total=5,
                districts=[
                    DistrictStockIn(district_code=GANZHOU, total=3),
                    DistrictStockIn(district_code=ZHOUKOU, total=2),
                ],
            )
        ]
        campaign = world.campaign(tiers=stock)
        ids = []
        for index in range(10):
            participant = world.participant(campaign, GANZHOU if index < 6 else ZHOUKOU)
            world.invite(participant)
            ids.append(participant.id)
        session.commit()
        campaign_id = campaign.id

    outcomes = _claim_all(database, ids)

    assert len(outcomes) == 20
    assert outcomes.count(ClaimOutcome.ISSUED) == 5
    assert outcomes.count(ClaimOutcome.ALREADY) == 5
    assert outcomes.count(ClaimOutcome.SOLD_OUT) == 10
    with database.sessions() as session:
        rewards = session.scalars(
            select(CampaignReward).where(CampaignReward.campaign_id == campaign_id)
        ).all()
        assert len({reward.participant_id for reward in rewards}) == 5
        by_district = {
            district: sum(1 for reward in rewards if reward.district_code == district)
            for district in (GANZHOU, ZHOUKOU)
        }
        assert by_district == {GANZHOU: 3, ZHOUKOU: 2}
        rows = session.execute(
            select(
                CampaignInventory.district_code, CampaignInventory.issued, CampaignInventory.total
            )
            .where(CampaignInventory.campaign_id == campaign_id)
            .order_by(CampaignInventory.district_code)
        ).all()
        assert [tuple(row) for row in rows] == [("", 5, 5), (GANZHOU, 3, 3), (ZHOUKOU, 2, 2)]
        assert session.scalar(select(func.count()).select_from(CampaignReward)) == 5

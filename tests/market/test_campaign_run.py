"""CampaignActor inside simulate(): the model's draws carried out through the services; the
campaign analytics (counted from the fact tables) agree with what the actor did."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import siyu.campaigns.hooks  # noqa: F401  (registers the pool/orders hooks and flow actions)
from siyu.analytics.campaigns import campaign_funnel
from siyu.auth.principal import Principal
from siyu.campaigns import service as campaigns
from siyu.campaigns.schemas import CampaignIn, TierIn
from siyu.db import Database, unit_of_work
from siyu.kit.time import SHANGHAI, to_shanghai, utc_now
from siyu.market.campaign_model import Behaviour
from siyu.market.campaign_run import CampaignActor
from siyu.market.generator import MarketConfig, generate
from siyu.market.simulation import World, simulate
from siyu.models import AccountKind, OperatorAccount
from siyu.models.campaigns import CampaignInventory, CampaignReward, CampaignTrigger, RewardKind
from siyu.pool import service as pool
from siyu.pool.schemas import AccountCreate, CodeCreate

DAYS = 4


def _start() -> datetime:
    today = to_shanghai(utc_now()).date()
    return datetime.combine(today, time(0), tzinfo=SHANGHAI).astimezone(utc_now().tzinfo)


def _campaign(
    admin: Principal, start: datetime, trigger: CampaignTrigger, cap: int, flow: str = ""
) -> int:
    with unit_of_work() as session:
        flow_id = None
        if flow:
            from siyu.flows import service as flows

            flow_id = flows.install_template(session, admin, flow).id
        account = pool.create_account(
            session,
            None,
            AccountCreate(
                name="活动号",
                kind=AccountKind.PERSONAL_ASSISTED,
                channel_backend="simulator",
                passive_adds_per_day=cap,
            ),
        )
        entry = pool.create_code(
            session, None, CodeCreate(name="免费领取拉杆箱", rule={"account_ids": [account.id]})
        )
        campaign = campaigns.create_campaign(
            session,
            admin,
            CampaignIn(
                name="邀请好友领拉杆箱",
                trigger=trigger,
                entry_code_id=entry.id,
                flow_id=flow_id,
                rules_text="邀请好友添加福利官，即有机会获得拉杆箱一个，数量有限。",
                styles=["1号款 黑色", "2号款 银色"],
                starts_at=start,
                ends_at=start + timedelta(days=DAYS + 1),
                invalidation_days=3,
                tiers=[
                    TierIn(
                        name="拉杆箱",
                        threshold=1,
                        kind=RewardKind.PHYSICAL,
                        unit_cost_fen=3500,
                        total=4,
                    ),
                    TierIn(
                        name="加赠旅行收纳袋",
                        threshold=2,
                        kind=RewardKind.PHYSICAL,
                        unit_cost_fen=800,
                        is_bonus=True,
                        total=2,
                    ),
                ],
            ),
        )
        reason = "模拟：赞助商坚持分享截图玩法" if trigger == CampaignTrigger.SHARE_PROOF else None
        campaigns.launch(session, admin, campaign.id, reason)
        return campaign.id


def _run(
    admin: Principal, trigger: CampaignTrigger, cap: int = 60, flow: str = ""
) -> tuple[World, Any, int]:
    start = _start()
    campaign_id = _campaign(admin, start, trigger, cap, flow)
    market = generate(MarketConfig(consumers=1_500, seed=11))
    world = World(market=market, admin=admin, seed=5, start=start, days=DAYS)
    actor = CampaignActor(
        campaign_id, reach=400, places=(), behaviour=Behaviour(tie_boost=8.0, share_reach=0.8)
    )
    simulate(world, [actor])
    return world, actor, campaign_id


class TestCampaignActor:
    def test_analytics_agree_with_what_the_actor_did(
        self, database: Database, admin: Principal
    ) -> None:
        world, actor, campaign_id = _run(admin, CampaignTrigger.FRIEND_ADD)
        with unit_of_work() as session:
            funnel = campaign_funnel(session, admin, campaign_id)
            totals = funnel.totals
            assert actor.counts["scans"] > 0
            assert totals.scans == actor.counts["scans"]
            assert totals.added == actor.counts["adds"]
            assert totals.participants == actor.counts["participants"] > 0
            assert totals.verified <= totals.invites
            rewards = session.scalars(
                select(CampaignReward).where(CampaignReward.campaign_id == campaign_id)
            ).all()
            assert len(rewards) == actor.counts["rewards"] > 0
            assert totals.reward_cost_fen == sum(r.cost_fen for r in rewards)
            # Stock is never exceeded (the services enforce it).
            for line in session.scalars(
                select(CampaignInventory).where(CampaignInventory.campaign_id == campaign_id)
            ):
                assert line.issued <= line.total
            # The per-day figures add up to the totals.
            assert sum(row.counts["scans"] for row in funnel.days) == totals.scans
            assert sum(row.counts["added"] for row in funnel.days) == totals.added
            assert sum(row.counts["rewards"] for row in funnel.days) == len(rewards)
            # People became consumers and contacts of the simulated world.
            assert len(world.people.consumer_id) >= totals.added
            assert world.stats["campaign.scans"] == actor.counts["scans"]
            # world.people holds confirmed contacts only (deleted ones are forgotten).
            from siyu.models import Contact, ContactState

            states = {
                session.get_one(Contact, contact_id).state
                for contact_id in world.people.contact_id.values()
            }
            assert states == {ContactState.CONFIRMED}

    def test_daily_cap_turns_people_away(self, database: Database, admin: Principal) -> None:
        _world, actor, campaign_id = _run(admin, CampaignTrigger.FRIEND_ADD, cap=5)
        with unit_of_work() as session:
            funnel = campaign_funnel(session, admin, campaign_id)
            assert all(row.counts["added"] <= 5 for row in funnel.days)
            assert actor.counts["full"] > 0
            account = session.scalars(select(OperatorAccount)).one()
            assert account.friends_used <= 5 * DAYS

    def test_share_campaign_uploads_and_reviews_proofs(
        self, database: Database, admin: Principal
    ) -> None:
        _world, actor, campaign_id = _run(admin, CampaignTrigger.SHARE_PROOF)
        with unit_of_work() as session:
            from siyu.models.campaigns import CampaignProof

            proofs = session.scalar(
                select(func.count(CampaignProof.id)).where(CampaignProof.campaign_id == campaign_id)
            )
            assert proofs == actor.counts.get("proofs", 0) > 0
            funnel = campaign_funnel(session, admin, campaign_id)
            assert funnel.totals.participants == actor.counts["participants"]


@pytest.fixture(autouse=True)
def _data_dir(settings: Any) -> None:
    """Proof screenshots go to the test's data directory (settings fixture)."""


class TestDeletions:
    def test_deletes_go_through_the_simulator_and_invalidate(
        self, database: Database, admin: Principal
    ) -> None:
        import dataclasses

        from siyu.market.generator import ACTIONS, Action
        from siyu.models import Contact, ContactState
        from siyu.models.campaigns import CampaignReferral, ReferralStatus

        start = _start()
        campaign_id = _campaign(admin, start, CampaignTrigger.FRIEND_ADD, 200)
        market = generate(MarketConfig(consumers=1_500, seed=11))
        propensity = market.propensity.copy()
        propensity[:, ACTIONS.index(Action.DELETE)] = 1.0
        market = dataclasses.replace(market, propensity=propensity)
        world = World(market=market, admin=admin, seed=5, start=start, days=DAYS)
        actor = CampaignActor(
            campaign_id,
            reach=400,
            places=(),
            behaviour=Behaviour(tie_boost=8.0, share_reach=0.8, delete_horizon_days=1),
        )
        simulate(world, [actor])
        with unit_of_work() as session:
            removed = session.scalar(
                select(func.count(Contact.id)).where(Contact.state == ContactState.REMOVED)
            )
            assert removed == actor.counts["removed"] > 0
            referrals = session.execute(
                select(CampaignReferral.status, Contact.state)
                .join(Contact, Contact.id == CampaignReferral.contact_id)
                .where(CampaignReferral.campaign_id == campaign_id)
            ).all()
            # An invitee who deleted the account (the next day, inside the 3-day window) no
            # longer counts; the ones added on the last day have not deleted yet.
            assert {status for status, state in referrals if state == ContactState.REMOVED} == {
                ReferralStatus.INVALIDATED
            }
            assert {status for status, state in referrals if state != ContactState.REMOVED} <= {
                ReferralStatus.VERIFIED
            }
            assert set(world.people.contact_id.values()).isdisjoint(
                set(
                    session.scalars(select(Contact.id).where(Contact.state == ContactState.REMOVED))
                )
            )


class TestWithAFlow:
    def test_people_answer_the_flow_and_join(self, database: Database, admin: Principal) -> None:
        _world, actor, campaign_id = _run(admin, CampaignTrigger.FRIEND_ADD, flow="luggage_invite")
        with unit_of_work() as session:
            from siyu.models import ChannelMessage

            funnel = campaign_funnel(session, admin, campaign_id)
            assert funnel.totals.participants == actor.counts["participants"] > 0
            assert funnel.totals.replied == funnel.totals.participants
            # The flow greeted the new friends and answered their replies on the simulator.
            outgoing = session.scalar(
                select(func.count(ChannelMessage.id)).where(ChannelMessage.direction == "out")
            )
            assert (outgoing or 0) >= funnel.totals.added


class TestForecastThenRun:
    def test_a_forecast_made_before_the_run_compares_with_it(
        self, database: Database, admin: Principal
    ) -> None:
        from siyu.forecasts import service as forecasts

        start = _start()
        campaign_id = _campaign(admin, start, CampaignTrigger.FRIEND_ADD, 60)
        with unit_of_work() as session:  # as the demo does: inside its unit of work
            params = forecasts.ForecastParams(reach=400, days=DAYS, runs=10, market_size=1_500)
            forecast_id = forecasts.create_forecast(session, admin, campaign_id, params).id
        market = generate(MarketConfig(consumers=1_500, seed=11))
        world = World(market=market, admin=admin, seed=5, start=start, days=DAYS)
        simulate(world, [CampaignActor(campaign_id, reach=400, places=())])
        with unit_of_work() as session:
            comparison = forecasts.forecast_vs_actual(session, admin, forecast_id)
            funnel = campaign_funnel(session, admin, campaign_id)
            assert comparison.has_data
            # The forecast's first day is the campaign's start (day 0 of the run): the
            # run's days are all compared, and the last cumulative actual is the total.
            assert [day.day for day in comparison.days] == list(range(DAYS))
            last = {row.metric: row.actual for row in comparison.days[-1].rows}
            assert last["scans"] == funnel.totals.scans
            assert last["adds"] == funnel.totals.added
            totals = {row.metric: row.actual for row in comparison.totals}
            assert totals["participants"] == funnel.totals.participants

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.demo.data import MERCHANTS
from siyu.demo.scenario import load_demo
from siyu.models import CouponBatch, Merchant, Product, Promoter, ReviewStatus, Role, User
from siyu.promoters import service as promoters


def _count(session: Session, model: type[object]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


class TestDemoScenario:
    # One test: loading hashes ~65 passwords with Argon2, which is deliberately slow.
    def test_loads_the_jd_style_platform_and_is_safe_to_rerun(self, session: Session) -> None:
        summary = load_demo(session)
        session.commit()

        assert summary.created is True
        assert _count(session, Merchant) == len(MERCHANTS)
        expected_products = sum(len(merchant.products) for merchant in MERCHANTS)
        assert _count(session, Product) == expected_products
        pending = [p for m in MERCHANTS for p in m.products if p.review is None]
        rejected = [p for m in MERCHANTS for p in m.products if p.review]
        statuses = dict(
            session.execute(
                select(Product.review_status, func.count()).group_by(Product.review_status)
            ).all()
        )
        assert statuses == {
            ReviewStatus.PENDING: len(pending),
            ReviewStatus.REJECTED: len(rejected),
            ReviewStatus.APPROVED: expected_products - len(pending) - len(rejected),
        }
        assert _count(session, CouponBatch) == sum(len(m.coupons) for m in MERCHANTS)
        promoter_count = _count(session, Promoter)
        assert 45 <= promoter_count <= 70
        # Every promoter has a login; each merchant has one.
        roles = dict(session.execute(select(User.role, func.count()).group_by(User.role)).all())
        assert roles == {
            Role.ADMIN: 1,
            Role.OPERATOR: 1,
            Role.MERCHANT: len(MERCHANTS),
            Role.PROMOTER: promoter_count,
        }
        usernames = [username for _role, username, _password in summary.logins]
        assert usernames[:3] == ["admin", "ops", MERCHANTS[0].username]

        again = load_demo(session)
        session.commit()
        assert again.created is False
        assert _count(session, Promoter) == promoter_count
        assert _count(session, Product) == expected_products
        assert again.logins == summary.logins

        # Two weeks of the money loop ran through the services and the ledger balances.
        from siyu.ledger import service as ledger
        from siyu.models import Click, Commission, CommissionState, LedgerEntry, Order, Withdrawal

        assert _count(session, Order) > 50
        assert _count(session, Click) > _count(session, Order)
        assert _count(session, Withdrawal) > 0
        settled = session.scalar(
            select(func.count())
            .select_from(Commission)
            .where(Commission.state == CommissionState.SETTLED)
        )
        assert (settled or 0) > 0
        assert _count(session, LedgerEntry) > 0
        assert ledger.trial_balance(session) == 0
        assert ledger.check_balanced(session) == []
        # Every promoter's accounts reconcile with its commission and withdrawal records, and the
        # loop reached every state a promoter's money can be in.
        from siyu.withdrawals import service as withdrawals

        system = Principal(user_id=0, username="system", display_name="系统", role=Role.ADMIN)
        for promoter_id in session.scalars(select(Promoter.id)):
            lines = withdrawals.reconcile_promoter(session, system, promoter_id)
            assert [line.key for line in lines if not line.matches] == [], promoter_id
            assert withdrawals.paid_out_covered(session, promoter_id), promoter_id
        states = set(session.scalars(select(Commission.state).distinct()))
        assert {
            CommissionState.SETTLED,
            CommissionState.PAID_OUT,
            CommissionState.PENDING,
        } <= states
        assert {CommissionState.INVALID, CommissionState.ESTIMATED} <= states
        assert {CommissionState.REVERSED, CommissionState.ON_HOLD} <= states
        from siyu.models import AfterSale, AfterSaleStatus, OrderStatus

        cancelled = session.scalar(
            select(func.count()).select_from(Order).where(Order.status == OrderStatus.CANCELLED)
        )
        open_after_sales = session.scalar(
            select(func.count())
            .select_from(AfterSale)
            .where(AfterSale.status == AfterSaleStatus.REQUESTED)
        )
        assert (cancelled or 0) > 0
        assert (open_after_sales or 0) > 0

        # The network: six team leaders, two levels under each, and a deeper branch somewhere
        # (the tree may be deeper than any team view, which stops at L2).
        leaders = session.scalars(
            select(Promoter).where(Promoter.inviter_id.is_(None)).order_by(Promoter.id)
        ).all()
        assert len(leaders) == 6
        admin_user = session.scalar(select(User).where(User.username == "admin"))
        assert admin_user is not None
        admin = Principal.of(admin_user)
        counts = [promoters.team_counts(session, admin, leader.id) for leader in leaders]
        assert all(count.direct_recruits >= 3 for count in counts)
        assert sum(count.second_level for count in counts) > 0
        depth_three = session.scalar(
            select(func.count())
            .select_from(Promoter)
            .where(
                Promoter.inviter_id.in_(
                    select(Promoter.id).where(
                        Promoter.inviter_id.in_(
                            select(Promoter.id).where(
                                Promoter.inviter_id.in_([leader.id for leader in leaders])
                            )
                        )
                    )
                )
            )
        )
        assert (depth_three or 0) > 0

        # The traffic pool: a fleet on one persona, codes routing across it, groups rolling over.
        from siyu.models import (
            AssistedTask,
            ChannelScan,
            Contact,
            ContactState,
            OperatorAccount,
            ScanOutcome,
            WechatGroup,
        )

        accounts = session.scalars(select(OperatorAccount)).all()
        assert all(a.friends_used <= a.max_friends for a in accounts)
        assert all(a.passive_adds_today <= a.passive_adds_per_day for a in accounts)
        activity = [a for a in accounts if a.name.startswith("京东活动推广员")]
        assert len(activity) == 12
        assert len({a.persona_id for a in activity}) == 1
        assert any(a.owner_promoter_id is not None and a.kind == "courier" for a in accounts)
        assert any(
            a.owner_promoter_id is not None and a.kind == "personal_assisted" for a in accounts
        )
        routed_to = {
            account_id
            for account_id in session.scalars(
                select(ChannelScan.account_id).where(ChannelScan.outcome == ScanOutcome.ROUTED)
            )
        }
        assert len(routed_to & {a.id for a in activity}) >= 8
        confirmed = session.scalar(
            select(func.count()).select_from(Contact).where(Contact.state == ContactState.CONFIRMED)
        )
        assert (confirmed or 0) > 100
        attributed = session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(Contact.referrer_consumer_id.is_not(None))
        )
        assert (attributed or 0) >= 12
        groups = session.scalars(select(WechatGroup).order_by(WechatGroup.sequence)).all()
        assert len(groups) == 3
        # The pool demo seats 100 people (groups of 40 roll over); the campaigns' simulated
        # journeys end with their participants joining too.
        from siyu.models.campaigns import CampaignParticipant

        joined = session.scalar(
            select(func.count())
            .select_from(CampaignParticipant)
            .where(CampaignParticipant.group_joined_at.is_not(None))
        )
        assert (joined or 0) >= 6
        assert [g.members_count for g in groups] == [40, 40, 20 + (joined or 0)]
        assert _count(session, AssistedTask) > 0


class TestDemoFissionJourneys:
    def test_both_campaigns_run_from_the_poster_to_the_coupon_group(self, session: Session) -> None:
        from siyu.models import ChannelMessage
        from siyu.models.campaigns import Campaign, CampaignParticipant, CampaignTrigger
        from siyu.models.flows import Conversation, ConversationStatus

        load_demo(session)
        for trigger in (CampaignTrigger.SHARE_PROOF, CampaignTrigger.FRIEND_ADD):
            campaign = session.scalars(select(Campaign).where(Campaign.trigger == trigger)).one()
            assert campaign.flow_id is not None
            done = session.scalars(
                select(Conversation).where(
                    Conversation.campaign_id == campaign.id,
                    Conversation.status == ConversationStatus.COMPLETED,
                )
            ).all()
            journeys = 0
            for conversation in done:
                participant = session.scalars(
                    select(CampaignParticipant).where(
                        CampaignParticipant.campaign_id == campaign.id,
                        CampaignParticipant.contact_id == conversation.contact_id,
                    )
                ).first()
                if participant is None:
                    continue  # the district was sold out: told so, invited to the group, done
                journeys += 1
                assert participant.rewarded_at is not None
                assert participant.group_joined_at is not None
                texts = [
                    str(message.body.get("text", ""))
                    for message in session.scalars(
                        select(ChannelMessage)
                        .where(
                            ChannelMessage.contact_id == conversation.contact_id,
                            ChannelMessage.direction == "out",
                        )
                        .order_by(ChannelMessage.id)
                    )
                ]
                assert texts[0].startswith(("您好", "欢迎")) or "区县" in " ".join(texts[:2])
                assert any("登记成功" in text for text in texts)
                assert any("/g/" in text for text in texts)  # the coupon group's link
            if journeys < 3:  # say what happened instead (scans, conversation steps)
                from siyu.models import ChannelScan

                steps = [
                    (c.status.value, c.step_id, sorted(c.variables))
                    for c in session.scalars(
                        select(Conversation).where(Conversation.campaign_id == campaign.id)
                    )
                ]
                scans = [
                    (scan.outcome.value, scan.reason)
                    for scan in session.scalars(
                        select(ChannelScan)
                        .where(ChannelScan.code_id == campaign.entry_code_id)
                        .order_by(ChannelScan.id.desc())
                        .limit(8)
                    )
                ]
                raise AssertionError(f"{trigger}: {journeys} journeys; {steps[-8:]}; {scans}")

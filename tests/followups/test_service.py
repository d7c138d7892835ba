"""Follow-ups: each trigger fires once, sends re-check friendship, opt-out, quiet hours, quotas."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.auth.principal import SYSTEM, Principal
from siyu.compliance.service import ComplianceBlocked
from siyu.consumers.service import ConsumerIdentity
from siyu.db import Database
from siyu.errors import PermissionDenied
from siyu.followups import service
from siyu.followups.schemas import RuleIn
from siyu.kit.time import travel_to
from siyu.models import (
    AssistedTask,
    ChannelMessage,
    Click,
    Contact,
    ContactState,
    LinkPosition,
    LinkTargetKind,
    Order,
    Role,
    TrackedLink,
)
from siyu.models.followups import Followup, FollowupKind, FollowupStatus
from siyu.models.outreach import OutreachQuota
from siyu.orders import service as orders
from siyu.pool import groups
from siyu.pool import service as pool
from siyu.pool.schemas import GroupCodeCreate
from tests.orders.conftest import Shop, h5_draft
from tests.pool.conftest import make_account, make_code

# Tuesday 2026-12-01 10:00 Shanghai.
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
OPERATOR = Principal(user_id=0, username="ops", display_name="运营", role=Role.OPERATOR)


def contact_for(session: Any, phone: str, backend: str = "simulator", **account: Any) -> Contact:
    made = make_account(session, f"号{phone[-4:]}", channel_backend=backend, **account)
    code = make_code(session, rule={"account_ids": [made.id]})
    result = pool.scan(session, code.code, ConsumerIdentity(phone=phone, nickname="小美"))
    assert result.contact is not None
    result.contact.state = ContactState.CONFIRMED
    result.contact.confirmed_at = NOW - timedelta(days=40)
    session.flush()
    return result.contact


def rule(session: Any, kind: FollowupKind, **values: Any) -> int:
    values.setdefault("name", "跟进")
    values.setdefault("delay_hours", 24)
    values.setdefault("script", "{昵称}您好，之前看的商品还有优惠哦")
    return service.create_rule(session, SYSTEM, RuleIn(kind=kind, **values)).id


def click(session: Any, shop: Shop, promoter_id: int, consumer_id: int, at: datetime) -> None:
    link = TrackedLink(
        promoter_id=promoter_id,
        target_kind=LinkTargetKind.PRODUCT,
        product_id=shop.product_id,
        position=LinkPosition.FRIEND,
        short_code=f"fu{consumer_id}{int(at.timestamp())}"[-16:],
        expires_at=at + timedelta(days=60),
    )
    session.add(link)
    session.flush()
    session.add(
        Click(
            token=f"t{link.id}",
            link_id=link.id,
            promoter_id=promoter_id,
            clicked_at=at,
            ip_hash="0" * 64,
            consumer_id=consumer_id,
        )
    )
    session.flush()


@pytest.fixture
def shop(catalog: Any) -> Shop:
    merchant_id = catalog.merchant("好物小店")
    product_id = catalog.approved(merchant_id, stock=50, promo_price_fen=5400, list_price_fen=9900)
    return Shop(merchant_id, product_id)


class TestRules:
    def test_script_is_linted(self, session: Any) -> None:
        with pytest.raises(ComplianceBlocked):
            rule(session, FollowupKind.INACTIVE, script="转发到3个群就送红包，全网最低价")
        assert service.list_rules(session, SYSTEM) == []

    @pytest.mark.parametrize(
        ("values", "detail"),
        [
            ({"name": " "}, "name is required"),
            ({"script": " "}, "script is required"),
            ({"delay_hours": 0}, "delay must be"),
            ({"delay_hours": 24 * 91}, "delay must be"),
            ({"script": "点这里 {链接}"}, "no link is chosen"),
        ],
    )
    def test_bad_rule(self, session: Any, values: Any, detail: str) -> None:
        with pytest.raises(service.FollowupRuleInvalid, match=detail):
            rule(session, FollowupKind.INACTIVE, **values)
        assert service.list_rules(session, SYSTEM) == []

    def test_vip_needs_group_code(self, session: Any) -> None:
        with pytest.raises(service.FollowupRuleInvalid, match="group code"):
            rule(session, FollowupKind.VIP_GROUP)

    def test_promoter_refused(self, session: Any) -> None:
        promoter = Principal(user_id=5, username="p", display_name="p", role=Role.PROMOTER)
        with pytest.raises(PermissionDenied):
            service.list_rules(session, promoter)


class TestInactive:
    def test_fires_once_per_silence_and_sends(self, session: Any) -> None:
        contact = contact_for(session, "13800000001")
        contact.last_message_at = NOW - timedelta(days=31)
        rule_id = rule(session, FollowupKind.INACTIVE, delay_hours=30 * 24)
        assert service.scan(session, NOW)[rule_id] == 1
        assert service.scan(session, NOW + timedelta(hours=1))[rule_id] == 0
        [row] = session.scalars(select(Followup)).all()
        assert (row.consumer_id, row.contact_id, row.trigger_key) == (
            contact.consumer_id,
            contact.id,
            f"inactive:{contact.last_message_at:%Y%m%d}",
        )
        outcome = service.send(session, row.id, NOW)
        assert outcome is not None
        assert outcome.status == "sent"
        message = session.get_one(ChannelMessage, row.message_id)
        assert message.body["text"] == "小美您好，之前看的商品还有优惠哦"
        assert service.send(session, row.id, NOW) is None  # done: never twice

    def test_recent_contact_is_not_followed_up(self, session: Any) -> None:
        contact = contact_for(session, "13800000002")
        contact.last_message_at = NOW - timedelta(days=2)
        rule_id = rule(session, FollowupKind.INACTIVE, delay_hours=30 * 24)
        assert service.scan(session, NOW)[rule_id] == 0

    def test_opted_out_after_planning_is_skipped(self, session: Any) -> None:
        contact = contact_for(session, "13800000003")
        contact.last_message_at = NOW - timedelta(days=31)
        rule(session, FollowupKind.INACTIVE, delay_hours=30 * 24)
        service.scan(session, NOW)
        contact.marketing_opt_out = True
        [row] = session.scalars(select(Followup)).all()
        outcome = service.send(session, row.id, NOW)
        assert outcome is not None
        assert (outcome.status, outcome.reason) == ("skipped", "opted_out")
        assert session.scalar(select(func.count()).select_from(ChannelMessage)) == 0

    def test_quiet_hours_defer(self, session: Any) -> None:
        contact = contact_for(session, "13800000004")
        contact.last_message_at = NOW - timedelta(days=31)
        rule(session, FollowupKind.INACTIVE, delay_hours=30 * 24)
        night = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 Shanghai
        service.scan(session, night)
        [row] = session.scalars(select(Followup)).all()
        outcome = service.send(session, row.id, night)
        assert outcome is not None
        assert (outcome.status, outcome.reason) == ("planned", "deferred: quiet_hours")
        assert row.due_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 08:00 Shanghai
        assert session.scalar(select(func.count()).select_from(ChannelMessage)) == 0
        assert service.due(session, night) == []

    def test_quota_blocks_and_counts_nothing_extra(self, session: Any, settings: Any) -> None:
        settings.broadcast_quota_preset = "day_1"
        contact = contact_for(session, "13800000005")
        contact.last_message_at = NOW - timedelta(days=31)
        first = rule(session, FollowupKind.INACTIVE, delay_hours=30 * 24, name="唤醒一")
        second = rule(session, FollowupKind.INACTIVE, delay_hours=30 * 24, name="唤醒二")
        service.scan(session, NOW)
        rows = {row.rule_id: row for row in session.scalars(select(Followup)).all()}
        assert service.send(session, rows[first].id, NOW).status == "sent"  # type: ignore[union-attr]
        blocked = service.send(session, rows[second].id, NOW)
        assert blocked is not None
        assert (blocked.status, blocked.reason) == ("skipped", "quota_day")
        quota = session.scalars(
            select(OutreachQuota).where(OutreachQuota.subject_kind == "consumer")
        ).one()
        assert quota.day_count == 1

    def test_assisted_account_gets_a_task(self, session: Any) -> None:
        contact = contact_for(session, "13800000006", backend="assisted")
        contact.last_message_at = NOW - timedelta(days=31)
        rule(session, FollowupKind.INACTIVE, delay_hours=30 * 24)
        service.scan(session, NOW)
        [row] = session.scalars(select(Followup)).all()
        outcome = service.send(session, row.id, NOW)
        assert outcome is not None
        assert outcome.status == "queued_task"
        task = session.get_one(AssistedTask, row.task_id)
        assert task.script_text == "小美您好，之前看的商品还有优惠哦"

    def test_promoter_contacts_are_not_the_platforms(
        self, session: Any, make_promoter: Any
    ) -> None:
        promoter = make_promoter("甲", 7)
        contact = contact_for(session, "13800000007", owner_promoter_id=promoter.id)
        contact.last_message_at = NOW - timedelta(days=31)
        rule_id = rule(session, FollowupKind.INACTIVE, delay_hours=30 * 24)
        assert service.scan(session, NOW)[rule_id] == 0


class TestClickAndOrders:
    def test_click_without_order(self, session: Any, shop: Shop, make_promoter: Any) -> None:
        promoter = make_promoter("乙", 8)
        buyer = contact_for(session, "13900000001")
        other = contact_for(session, "13900000002")
        click(session, shop, promoter.id, buyer.consumer_id, NOW - timedelta(hours=30))
        click(session, shop, promoter.id, buyer.consumer_id, NOW - timedelta(hours=29))
        click(session, shop, promoter.id, other.consumer_id, NOW - timedelta(hours=30))
        with travel_to(NOW - timedelta(hours=20)):
            orders.place_order(session, h5_draft(shop.product_id, phone="13900000002"))
        rule_id = rule(session, FollowupKind.CLICK_NO_BUY, delay_hours=24)
        assert service.scan(session, NOW)[rule_id] == 1  # two clicks, one follow-up
        [row] = session.scalars(select(Followup)).all()
        assert row.consumer_id == buyer.consumer_id

    def test_first_order_received(self, session: Any, shop: Shop) -> None:
        buyer = contact_for(session, "13900000003")
        with travel_to(NOW - timedelta(days=3)):
            first = orders.place_order(session, h5_draft(shop.product_id, phone="13900000003"))
            second = orders.place_order(session, h5_draft(shop.product_id, phone="13900000003"))
        with travel_to(NOW - timedelta(days=2)):
            orders.confirm_receipt(session, None, first.id)
            orders.confirm_receipt(session, None, second.id)
        rule_id = rule(
            session, FollowupKind.FIRST_ORDER, delay_hours=2, script="感谢{昵称}的支持！"
        )
        assert service.scan(session, NOW)[rule_id] == 1
        [row] = session.scalars(select(Followup)).all()
        assert (row.trigger_key, row.contact_id) == (f"order:{first.id}", buyer.id)
        assert session.get_one(Order, first.id).received_at is not None

    def test_vip_invited_once_and_not_when_member(self, session: Any, shop: Shop) -> None:
        buyer = contact_for(session, "13900000004")
        account_id = buyer.account_id
        group_code = groups.create_group_code(
            session,
            None,
            GroupCodeCreate(name="VIP 群", name_template="VIP 福利群{n}", account_id=account_id),
        )
        member = contact_for(session, "13900000005")
        with travel_to(NOW - timedelta(days=5)):
            for _ in range(3):
                orders.place_order(session, h5_draft(shop.product_id, phone="13900000004"))
                orders.place_order(session, h5_draft(shop.product_id, phone="13900000005"))
        joined = groups.join_by_code(
            session, group_code.code, ConsumerIdentity(phone="13900000005")
        )
        assert joined.group is not None
        assert member.consumer_id != buyer.consumer_id
        rule_id = rule(
            session,
            FollowupKind.VIP_GROUP,
            group_code_id=group_code.id,
            vip_min_orders=3,
            script="{昵称}，邀请您加入我们的 VIP 福利群：{链接}",
        )
        assert service.scan(session, NOW)[rule_id] == 1  # the member is not invited again
        [row] = session.scalars(select(Followup)).all()
        assert row.consumer_id == buyer.consumer_id
        service.send(session, row.id, NOW)
        message = session.get_one(ChannelMessage, row.message_id)
        assert message.body["text"].endswith(f"/g/{group_code.code}")
        assert service.scan(session, NOW + timedelta(days=1))[rule_id] == 0


class TestConcurrency:
    def test_two_workers_send_once(self, database: Database) -> None:
        with database.sessions() as session:
            contact = contact_for(session, "13800000009")
            contact.last_message_at = NOW - timedelta(days=31)
            rule(session, FollowupKind.INACTIVE, delay_hours=30 * 24)
            service.scan(session, NOW)
            session.commit()
            [followup_id] = session.scalars(select(Followup.id)).all()
        outcomes: list[Any] = []
        barrier = threading.Barrier(2)

        def worker() -> None:
            with database.sessions() as session:
                barrier.wait()
                outcomes.append(service.send(session, followup_id, NOW))
                session.commit()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(str(outcome and outcome.status) for outcome in outcomes) == ["None", "sent"]
        with database.sessions() as session:
            assert session.scalar(select(func.count()).select_from(ChannelMessage)) == 1
            assert session.get_one(Followup, followup_id).status == FollowupStatus.SENT


class TestPages:
    def test_console_create_and_list(
        self, client: Any, admin: Principal, database: Database
    ) -> None:
        client.login("admin")
        response = client.submit(
            "/console/followups",
            {
                "name": "30 天唤醒",
                "kind": "inactive",
                "delay_hours": "720",
                "script": "{昵称}好久不见，最近店里上了新品",
            },
        )
        assert response.status_code == 303
        page = client.get("/console/followups")
        assert "30 天唤醒" in page.text
        assert "沉默唤醒" in page.text
        refused = client.submit(
            "/console/followups",
            {
                "name": "坏规则",
                "kind": "inactive",
                "delay_hours": "720",
                "script": "转发到3个群就送红包",
            },
        )
        assert refused.status_code == 303
        assert "创建失败" in client.get("/console/followups").text
        with database.sessions() as session:
            assert [r.name for r in service.list_rules(session, SYSTEM)] == ["30 天唤醒"]

    def test_api(self, api_as: Any, admin: Principal) -> None:
        api = api_as(admin)
        created = api.post(
            "/api/v1/followups/rules",
            json={
                "name": "点击未下单",
                "kind": "click_no_buy",
                "delay_hours": 24,
                "script": "{昵称}，看中的商品库存不多了",
            },
        )
        assert created.status_code == 201
        bad = api.post(
            "/api/v1/followups/rules",
            json={"name": "x", "kind": "vip_group", "script": "加群"},
        )
        assert bad.status_code == 422
        assert bad.json()["error"] == "followup_rule_invalid"
        assert [r["name"] for r in api.get("/api/v1/followups/rules").json()] == ["点击未下单"]

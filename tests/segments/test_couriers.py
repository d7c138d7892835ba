"""Couriers: a received order in the courier's district becomes one "add this customer" task;
the accepted contact binds the consumer to the courier."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.jobs import JobQueue
from siyu.models import (
    AccountKind,
    AssistedTask,
    AssistedTaskKind,
    AssistedTaskStatus,
    ChannelEvent,
    Consumer,
    Contact,
    ContactSourceKind,
    ContactState,
    OperatorAccount,
    PersonalDataAccess,
    PromoterKind,
    Role,
)
from siyu.pool import events, inbox
from siyu.segments import couriers
from tests.conftest import ConsoleClient
from tests.segments.conftest import PoolBuilder

ADDRESS = "浙江省杭州市西湖区文三路 100 号 3 幢"


@pytest.fixture
def courier(pool: PoolBuilder, queue: JobQueue) -> dict[str, Any]:
    promoter = pool.promoter("李师傅", kind=PromoterKind.COURIER)
    account = pool.account(
        "快递员号",
        owner=promoter,
        kind=AccountKind.COURIER,
        province_code="330000",
        city_code="330100",
        district_code="330106",
    )
    consumer = pool.consumer("张女士", phone="13812345678")
    pool.session.commit()
    return {"promoter": promoter, "account": account, "consumer": consumer}


def count(session: Any, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


class TestHandOff:
    def test_order_in_the_district_makes_one_task_and_a_pending_contact(
        self, pool: PoolBuilder, courier: dict[str, Any], queue: JobQueue
    ) -> None:
        session = pool.session
        order = pool.order(courier["consumer"].id, 5990, days_ago=0, region=ADDRESS)
        task_id = couriers.on_order_received(session, order)
        assert task_id is not None
        task = session.get(AssistedTask, task_id)
        assert task is not None
        assert (task.kind, task.account_id, task.title) == (
            AssistedTaskKind.ADD_FRIEND,
            courier["account"].id,
            "添加收件客户：张女士",
        )
        assert task.script_text.startswith("您好，我是负责您这片区域的快递员李师傅")
        assert order.order_no in task.script_text
        # The number is shown on the courier's task card (logged), never stored in the task.
        assert task.script_text.endswith("（添加方式：在微信中搜索任务卡片上的客户手机号）")
        assert "13812345678" not in task.script_text
        contact = session.get(Contact, task.contact_id)
        assert contact is not None
        assert (contact.state, contact.source_kind, contact.source_id) == (
            ContactState.PENDING,
            ContactSourceKind.COURIER,
            order.id,
        )
        assert (contact.province_code, contact.city_code, contact.district_code) == (
            "330000",
            "330100",
            "330106",
        )
        assert contact.referrer_promoter_id == courier["promoter"].id
        session.commit()
        queue.run_pending()  # the pool announces the pending add: no second task
        assert count(session, AssistedTask) == 1
        session.expire_all()
        account = session.get(OperatorAccount, courier["account"].id)
        assert account is not None
        assert (account.friends_used, account.active_adds_today) == (1, 1)

    def test_done_task_confirms_and_binds_to_the_courier(
        self, pool: PoolBuilder, courier: dict[str, Any], queue: JobQueue
    ) -> None:
        session = pool.session
        order = pool.order(courier["consumer"].id, 5990, days_ago=0, region=ADDRESS)
        task_id = couriers.on_order_received(session, order)
        assert task_id is not None
        inbox.complete_task(session, None, task_id, AssistedTaskStatus.DONE, "已添加")
        for event in session.scalars(select(ChannelEvent)).all():
            events.process(session, event.id)
        consumer = session.get(Consumer, courier["consumer"].id)
        assert consumer is not None
        session.refresh(consumer)
        assert (consumer.bound_promoter_id, consumer.binding_source) == (
            courier["promoter"].id,
            "courier",
        )
        task = session.get(AssistedTask, task_id)
        assert task is not None
        contact = session.get(Contact, task.contact_id)
        assert contact is not None
        assert contact.state == ContactState.CONFIRMED

    def test_a_second_delivery_makes_no_second_task(
        self, pool: PoolBuilder, courier: dict[str, Any]
    ) -> None:
        session = pool.session
        first = pool.order(courier["consumer"].id, 5990, days_ago=1, region=ADDRESS)
        second = pool.order(courier["consumer"].id, 3990, days_ago=0, region=ADDRESS)
        assert couriers.on_order_received(session, first) is not None
        assert couriers.on_order_received(session, second) is None
        assert count(session, AssistedTask) == 1
        assert count(session, Contact) == 1


class TestNothingToDo:
    @pytest.mark.parametrize(
        "region",
        ["", "火星", "浙江省", "浙江省杭州市上城区", "北京市朝阳区"],
    )
    def test_outside_any_territory(
        self, pool: PoolBuilder, courier: dict[str, Any], region: str
    ) -> None:
        order = pool.order(courier["consumer"].id, 5990, days_ago=0, region=region)
        assert couriers.on_order_received(pool.session, order) is None
        assert count(pool.session, AssistedTask) == 0
        assert count(pool.session, Contact) == 0

    def test_courier_at_the_active_cap(self, pool: PoolBuilder, courier: dict[str, Any]) -> None:
        courier["account"].active_adds_per_day = 0
        pool.session.flush()
        order = pool.order(courier["consumer"].id, 5990, days_ago=0, region=ADDRESS)
        assert couriers.on_order_received(pool.session, order) is None
        assert count(pool.session, Contact) == 0
        assert count(pool.session, AssistedTask) == 0

    def test_a_city_wide_courier_takes_the_district(
        self, pool: PoolBuilder, courier: dict[str, Any]
    ) -> None:
        courier["account"].district_code = ""
        pool.session.flush()
        order = pool.order(courier["consumer"].id, 5990, days_ago=0, region="杭州市上城区")
        assert couriers.on_order_received(pool.session, order) is not None


class TestCourierTaskCard:
    def test_the_courier_sees_the_number_and_the_view_is_logged(
        self,
        pool: PoolBuilder,
        courier: dict[str, Any],
        client: ConsoleClient,
        make_user: Any,
    ) -> None:
        order = pool.order(courier["consumer"].id, 5990, days_ago=0, region=ADDRESS)
        assert couriers.on_order_received(pool.session, order) is not None
        pool.session.commit()
        user = make_user(Role.PROMOTER, "li-courier", promoter_id=courier["promoter"].id)
        client.login("li-courier")
        page = client.get("/h5/tasks")
        assert page.status_code == 200
        assert 'data-testid="task-phone"' in page.text
        assert "13812345678" in page.text
        pool.session.expire_all()
        rows = pool.session.scalars(select(PersonalDataAccess)).all()
        assert [(r.actor_user_id, r.subject_id, r.fields) for r in rows] == [
            (user.user_id, courier["consumer"].id, "phone_full")
        ]

    def test_another_promoter_sees_neither_task_nor_number(
        self,
        pool: PoolBuilder,
        courier: dict[str, Any],
        client: ConsoleClient,
        make_user: Any,
    ) -> None:
        order = pool.order(courier["consumer"].id, 5990, days_ago=0, region=ADDRESS)
        assert couriers.on_order_received(pool.session, order) is not None
        stranger = pool.promoter("王五")
        pool.session.commit()
        make_user(Role.PROMOTER, "wangwu", promoter_id=stranger.id)
        client.login("wangwu")
        page = client.get("/h5/tasks")
        assert "13812345678" not in page.text
        pool.session.expire_all()
        assert pool.session.scalars(select(PersonalDataAccess)).all() == []

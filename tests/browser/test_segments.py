"""The segment builder counts live as an operator ticks conditions, then saves the segment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from siyu.kit import crypto
from siyu.models import (
    AccountKind,
    Consumer,
    Contact,
    ContactSourceKind,
    ContactState,
    OperatorAccount,
    Role,
)
from siyu.models.segments import Segment
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser


def _contacts(live_server: LiveServer) -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with live_server.unit_of_work() as session:
        account = OperatorAccount(name="活动号-001", kind=AccountKind.PERSONAL_ASSISTED)
        session.add(account)
        session.flush()
        for number, district in enumerate(["360702", "360702", "330106"], start=1):
            phone = f"1380000000{number}"
            consumer = Consumer(
                nickname=f"顾客{number}",
                phone_encrypted=crypto.encrypt(phone),
                phone_index=crypto.blind_index(phone),
            )
            session.add(consumer)
            session.flush()
            session.add(
                Contact(
                    consumer_id=consumer.id,
                    account_id=account.id,
                    source_kind=ContactSourceKind.CODE,
                    state=ContactState.CONFIRMED,
                    province_code=district[:2] + "0000",
                    city_code=district[:4] + "00",
                    district_code=district,
                    added_at=now,
                )
            )


class TestSegmentBuilder:
    def test_live_count_follows_the_ticks(
        self, live_server: LiveServer, page: Any, login: Any
    ) -> None:
        from playwright.sync_api import expect

        _contacts(live_server)
        live_server.create_user(Role.OPERATOR, "ops")
        login("ops")
        page.goto(live_server.url("/console/segments"))
        count = page.locator("#segment-count")
        expect(count).to_contain_text("匹配 3 人")
        page.get_by_label("三线").check()  # 赣州 is 三线; 杭州 is 新一线
        expect(count).to_contain_text("匹配 2 人")
        page.get_by_label("省份").select_option("330000")
        expect(count).to_contain_text("匹配 0 人")
        expect(page.get_by_label("城市")).to_contain_text("杭州市")
        page.get_by_label("人群名称").fill("赣州好友")
        page.get_by_label("省份").select_option("")
        page.get_by_role("button", name="保存人群").click()
        expect(page.get_by_role("alert")).to_contain_text("已保存人群“赣州好友”")
        expect(page.get_by_test_id("segment-detail-count")).to_contain_text("当前匹配 2 人")
        with live_server.unit_of_work() as session:
            segment = session.query(Segment).one()
            assert segment.rule["conditions"] == [{"kind": "tier", "tiers": ["tier_3"]}]

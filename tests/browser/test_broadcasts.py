"""The broadcast composer: live audience count and lint while typing, the plan preview, saving
a draft and starting it."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.kit.time import utc_now
from siyu.models import (
    AccountKind,
    Consumer,
    Contact,
    ContactSourceKind,
    ContactState,
    OperatorAccount,
    Role,
)
from siyu.models.outreach import Broadcast, BroadcastStatus
from siyu.segments import service as segments
from siyu.segments.schemas import SegmentIn, SegmentRule
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser


def _segment(live_server: LiveServer) -> int:
    with live_server.unit_of_work() as session:
        account = OperatorAccount(
            name="京东福利官", kind=AccountKind.WECOM_MEMBER, channel_backend="simulator"
        )
        session.add(account)
        session.flush()
        for number in range(3):
            consumer = Consumer(nickname=f"顾客{number}")
            session.add(consumer)
            session.flush()
            session.add(
                Contact(
                    consumer_id=consumer.id,
                    account_id=account.id,
                    source_kind=ContactSourceKind.IMPORT,
                    state=ContactState.CONFIRMED,
                    added_at=utc_now(),
                )
            )
        session.flush()
        rule = SegmentRule.model_validate(
            {"op": "and", "conditions": [{"kind": "account", "account_ids": [account.id]}]}
        )
        return segments.create_segment(session, None, SegmentIn(name="福利官好友", rule=rule)).id


class TestComposer:
    def test_count_lint_preview_save_and_start(
        self, live_server: LiveServer, page: Any, login: Any
    ) -> None:
        from playwright.sync_api import expect

        segment_id = _segment(live_server)
        live_server.create_user(Role.OPERATOR, "ops")
        login("ops")
        page.goto(live_server.url("/console/broadcasts/new"))
        page.locator("#name").fill("双十一内购券")
        page.locator("#segment_id").select_option(str(segment_id))
        expect(page.get_by_test_id("preview-audience")).to_have_text("3")
        page.locator("#text").fill("全网最低价，快来抢")
        expect(page.get_by_test_id("broadcast-preview")).to_contain_text("禁止")
        page.locator("#text").fill("{昵称}您好，双十一内购券已到账")
        expect(page.get_by_test_id("broadcast-preview")).to_contain_text("未发现问题")
        page.get_by_role("button", name="预览发送计划").click()
        preview = page.get_by_test_id("broadcast-plan-preview")
        expect(preview).to_contain_text("立即发送")
        now = int(page.get_by_test_id("plan-now").inner_text())
        later = int(page.get_by_test_id("plan-later").inner_text())
        assert now + later == 3
        page.get_by_role("button", name="保存并生成发送计划").click()
        expect(page.get_by_test_id("broadcast-status")).to_have_text("草稿")
        page.get_by_role("button", name="开始发送").click()
        expect(page.get_by_role("alert")).to_contain_text("已开始发送")
        with live_server.unit_of_work() as session:
            broadcast = session.query(Broadcast).one()
            assert broadcast.name == "双十一内购券"
            assert broadcast.status in (BroadcastStatus.SCHEDULED, BroadcastStatus.DONE)

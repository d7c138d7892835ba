"""The campaign builder: the live risk panel follows the trigger and the copy, the region select
adds district stock, and the saved campaign shows its inventory by district."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.models import AccountKind, Role
from siyu.pool import service as pool
from siyu.pool.schemas import AccountCreate, CodeCreate
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser


class TestCampaignBuilder:
    def test_risk_panel_and_district_stock(
        self, live_server: LiveServer, page: Any, login: Any
    ) -> None:
        from playwright.sync_api import expect

        with live_server.unit_of_work() as session:
            account = pool.create_account(
                session,
                None,
                AccountCreate(name="活动号", kind=AccountKind.PERSONAL_ASSISTED),
            )
            pool.create_code(
                session, None, CodeCreate(name="免费领取拉杆箱", rule={"account_ids": [account.id]})
            )
        live_server.create_user(Role.ADMIN, "boss")
        login("boss")
        page.goto(live_server.url("/console/campaigns/new"))
        panel = page.locator("#risk-panel")
        expect(panel).to_contain_text("低风险")
        page.get_by_label("玩法（奖励依据）").select_option("share_proof")
        expect(panel).to_contain_text("高风险活动")
        expect(panel).to_contain_text("campaign_share_proof_trigger")
        page.get_by_label("玩法（奖励依据）").select_option("friend_add")
        page.get_by_label("活动规则").fill("集赞 38 个即可领取拉杆箱")
        expect(panel).to_contain_text("collect_likes")
        page.get_by_label("活动规则").fill("邀请新朋友添加福利官，满 3 人领拉杆箱。")
        expect(panel).to_contain_text("低风险")

        page.get_by_label("活动名称").fill("邀请好友领拉杆箱")
        page.locator("#c-entry").select_option(index=1)
        page.get_by_label("第 1 档奖品名称").fill("拉杆箱")
        page.get_by_label("第 1 档门槛").fill("3")
        page.get_by_label("第 1 档总名额").fill("20")
        page.get_by_test_id("region-province").select_option("360000")
        expect(page.get_by_test_id("region-city")).to_contain_text("赣州市")
        page.get_by_test_id("region-city").select_option("360700")
        expect(page.get_by_test_id("region-district")).to_contain_text("章贡区")
        page.get_by_test_id("region-district").select_option("360702")
        page.get_by_label("该区县名额").fill("12")
        page.get_by_test_id("add-district").click()
        expect(page.get_by_label("第 1 档各区县名额")).to_have_value("360702 12")
        page.get_by_role("button", name="保存").click()
        expect(page.get_by_test_id("campaign-status")).to_contain_text("草稿")
        table = page.get_by_test_id("inventory-table")
        expect(table).to_contain_text("章贡区")
        expect(table).to_contain_text("0 / 12")
        expect(table).to_contain_text("0 / 20")

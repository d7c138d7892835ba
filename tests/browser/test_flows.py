"""话术库 and 会话流程: the live preview while typing a script, saving it, installing the seed's
flow template and seeing what it still needs."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.models import Role
from siyu.models.flows import Flow, Script
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser


class TestScriptsAndFlows:
    def test_preview_save_and_install(self, live_server: LiveServer, page: Any, login: Any) -> None:
        from playwright.sync_api import expect

        live_server.create_user(Role.OPERATOR, "ops")
        login("ops")
        page.goto(live_server.url("/console/scripts"))
        page.get_by_label("名称").fill("欢迎")
        body = page.get_by_label("内容")
        body.fill("{昵称}您好，转发到3个群即可领取")
        preview = page.get_by_test_id("script-preview")
        expect(preview).to_contain_text("小王您好")
        expect(preview).to_contain_text("有“禁止”级内容")
        body.fill("{昵称}您好，请问您在哪个区县？")
        expect(preview).to_contain_text("合规检查未发现问题")
        page.get_by_role("button", name="保存").click()
        expect(page.get_by_role("alert")).to_contain_text("已保存话术“欢迎”（第 1 版）")
        page.goto(live_server.url("/console/flows"))
        page.get_by_label("模板").select_option("luggage_invite")
        page.get_by_role("button", name="安装").click()
        # siyu.campaigns registers every campaign.* action: the template installs published.
        expect(page.get_by_test_id("step-table")).to_contain_text("发送话术")
        expect(page.get_by_test_id("flow-unknown-actions")).to_have_count(0)
        with live_server.unit_of_work() as session:
            assert session.query(Script).count() == 15
            flow = session.query(Flow).one()
            assert (flow.template_key, flow.status.value) == ("luggage_invite", "published")

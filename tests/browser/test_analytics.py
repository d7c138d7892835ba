"""The campaign analytics page draws its ECharts charts (funnel, districts, accounts) in the
browser, and the poster designer shows a live preview."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from siyu.models import Role
from tests.analytics.conftest import build
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

# Set to a folder to keep screenshots of the pages for a person to look at.
SCREENSHOTS = os.environ.get("SIYU_TEST_SCREENSHOTS", "")


class TestCampaignAnalytics:
    def test_charts_are_drawn(self, live_server: LiveServer, page: Any, login: Any) -> None:
        from playwright.sync_api import expect

        with live_server.unit_of_work() as session:
            scene = build(session)
        live_server.create_user(Role.ADMIN, "admin")
        login("admin")
        page.goto(live_server.url(f"/console/analytics/campaigns/{scene.campaign_id}"))
        for chart in ("chart-funnel", "chart-days", "chart-districts", "chart-accounts"):
            element = page.get_by_test_id(chart)
            expect(element).to_have_attribute("data-siyu-chart-state", "drawn")
            expect(element.locator("svg")).to_have_count(1)
        funnel = page.get_by_test_id("chart-funnel")
        expect(funnel).to_contain_text("扫码：9")
        expect(funnel).to_contain_text("添加好友：7")
        expect(page.get_by_test_id("chart-districts")).to_contain_text("江西省赣州市章贡区")
        expect(page.get_by_test_id("kpi-k")).to_have_text("0.75")
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/analytics.png", full_page=True)

    def test_figures_stay_live(
        self, live_server: LiveServer, page: Any, login: Any, monkeypatch: Any
    ) -> None:
        from playwright.sync_api import expect

        from siyu.models import Consumer
        from siyu.models.campaigns import CampaignParticipant
        from siyu.web import analytics_pages

        monkeypatch.setattr(analytics_pages, "REFRESH_SECONDS", 1)
        with live_server.unit_of_work() as session:
            scene = build(session)
        live_server.create_user(Role.ADMIN, "admin")
        login("admin")
        page.goto(live_server.url(f"/console/analytics/campaigns/{scene.campaign_id}"))
        expect(page.get_by_test_id("kpi-participants")).to_have_text("4")
        with live_server.unit_of_work() as session:
            newcomer = Consumer(nickname="新人", union_id="union-newcomer")
            session.add(newcomer)
            session.flush()
            session.add(
                CampaignParticipant(
                    campaign_id=scene.campaign_id, consumer_id=newcomer.id, district_code=""
                )
            )
        expect(page.get_by_test_id("kpi-participants")).to_have_text("5")
        expect(page.get_by_test_id("chart-funnel")).to_have_attribute(
            "data-siyu-chart-state", "drawn"
        )
        expect(page.get_by_test_id("chart-funnel")).to_contain_text("参与活动：5")

    def test_empty_campaign_says_so(self, live_server: LiveServer, page: Any, login: Any) -> None:
        from playwright.sync_api import expect

        with live_server.unit_of_work() as session:
            scene = build(session)
        live_server.create_user(Role.ADMIN, "admin")
        login("admin")
        page.goto(live_server.url(f"/console/analytics/campaigns/{scene.empty_campaign_id}"))
        districts = page.get_by_test_id("chart-districts")
        expect(districts).to_have_attribute("data-siyu-chart-state", "empty")
        expect(districts).to_contain_text("暂无数据")


class TestPosterDesigner:
    def test_live_preview(
        self, live_server: LiveServer, page: Any, login: Any, tmp_path: Path
    ) -> None:
        from playwright.sync_api import expect

        live_server.create_user(Role.ADMIN, "admin")
        login("admin")
        page.goto(live_server.url("/console/posters"))
        preview = page.get_by_test_id("poster-preview")
        expect(preview).to_be_visible()
        page.get_by_label("模板（JSON）").fill('{"qr": {"x": 700, "y": 1420, "size": 100}}')
        expect(page.get_by_test_id("poster-error")).to_contain_text("二维码大小不能小于 200")
        page.get_by_label("模板（JSON）").fill('{"title": "双十一内购"}')
        expect(page.get_by_test_id("poster-preview")).to_be_visible()
        background = tmp_path / "bg.png"
        Image.new("RGB", (90, 160), "#2e86de").save(background)
        page.get_by_label("上传背景图（JPEG、PNG 或 WebP）").set_input_files(str(background))
        page.get_by_role("button", name="上传", exact=True).click()
        page.get_by_role("button", name="用作背景").click()
        expect(page.get_by_label("模板（JSON）")).to_have_value(
            re.compile(r'"background": "/uploads/')
        )
        expect(page.get_by_test_id("poster-preview")).to_be_visible()
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/posters.png", full_page=True)

"""Logging in to the console through a real browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from siyu.models import Role
from tests.browser.conftest import VENDOR_CSS, LiveServer

pytestmark = pytest.mark.browser


class TestConsoleLogin:
    def test_admin_logs_in_and_sees_the_dashboard_in_chinese(
        self, live_server: LiveServer, page: Any, login: Any, tmp_path: Path
    ) -> None:
        from playwright.sync_api import expect

        live_server.create_user(Role.ADMIN, "admin", display_name="王运营")
        page.goto(live_server.url("/console"))
        expect(page).to_have_url(live_server.url("/login?next=/console"))
        expect(page.get_by_role("heading", name="私域运营台")).to_be_visible()

        login("admin")

        expect(page).to_have_url(live_server.url("/console"))
        expect(page.get_by_role("heading", name="概览")).to_be_visible()
        expect(page.locator("nav")).to_contain_text("王运营（平台管理员）")
        expect(page.get_by_role("link", name="选品审核")).to_be_visible()
        screenshot = tmp_path / "console.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 10_000

    def test_wrong_password_stays_on_the_form_with_a_chinese_message(
        self, live_server: LiveServer, page: Any, login: Any
    ) -> None:
        from playwright.sync_api import expect

        live_server.create_user(Role.ADMIN, "admin")
        login("admin", "not-the-password")
        expect(page.get_by_role("alert")).to_have_text("用户名或密码错误，请重新输入。")
        expect(page).to_have_url(live_server.url("/login"))
        expect(page.get_by_label("用户名")).to_have_value("admin")

    def test_console_styles_come_from_the_vendored_bootstrap(
        self, live_server: LiveServer, page: Any
    ) -> None:
        if not VENDOR_CSS.exists():
            pytest.skip(
                "vendored assets missing: run `bash scripts/setup` (npm ci + vendor-assets)"
            )
        page.goto(live_server.url("/login"))
        button = page.get_by_role("button", name="登录")
        # Bootstrap's --bs-primary (#0d6efd) on .btn-primary: the stylesheet loaded and applied.
        color = button.evaluate("element => getComputedStyle(element).backgroundColor")
        assert color == "rgb(13, 110, 253)"

"""A merchant's product goes through the platform's review into the promotion pool, in a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from siyu.catalog import service as catalog
from siyu.catalog.schemas import MerchantCreate, ProductCreate
from siyu.models import Product, ReviewStatus, Role
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser


def _pending_product(live_server: LiveServer) -> tuple[int, int]:
    with live_server.unit_of_work() as session:
        merchant = catalog.create_merchant(session, None, MerchantCreate(name="行者箱包旗舰店"))
        product = catalog.create_product(
            session,
            None,
            ProductCreate(
                merchant_id=merchant.id,
                title="行者 20寸万向轮拉杆箱",
                category="箱包",
                list_price_fen=39900,
                promo_price_fen=12900,
                stock=800,
                commission_rate_bp=1500,
            ),
        )
        return merchant.id, product.id


class TestReviewInBrowser:
    def test_admin_approves_a_product_into_the_pool(
        self, live_server: LiveServer, page: Any, login: Any, tmp_path: Path
    ) -> None:
        from playwright.sync_api import expect

        merchant_id, product_id = _pending_product(live_server)
        live_server.create_user(Role.ADMIN, "admin", display_name="王运营")
        live_server.create_user(Role.MERCHANT, "xingzhe", merchant_id=merchant_id)

        login("admin")
        page.get_by_role("link", name="选品审核").click()
        row = page.locator(f'tr[data-product-id="{product_id}"]')
        expect(row).to_contain_text("行者 20寸万向轮拉杆箱")
        row.get_by_label("平台提点").fill("12.5")
        row.get_by_label("排序权重").fill("90")
        row.get_by_role("button", name="通过").click()

        expect(page.get_by_role("alert")).to_contain_text("通过")
        expect(page.locator(f'tr[data-product-id="{product_id}"]')).to_have_count(0)
        expect(page.get_by_role("heading", name="推广池")).to_be_visible()
        expect(page.locator("table").last).to_contain_text("行者 20寸万向轮拉杆箱")
        page.screenshot(path=str(tmp_path / "review.png"), full_page=True)

        with live_server.unit_of_work() as session:
            product = session.get(Product, product_id)
            assert product is not None
            assert product.review_status == ReviewStatus.APPROVED
            assert product.on_shelf is True
            assert product.platform_take_bp == 1250
            assert product.rank_weight == 90

        # The merchant sees the outcome of the review on its own product page.
        page.get_by_role("button", name="退出").click()
        login("xingzhe")
        page.goto(live_server.url(f"/console/products/{product_id}"))
        expect(page.locator("main")).to_contain_text("已入池")

    def test_reject_without_reason_is_refused_by_the_form(
        self, live_server: LiveServer, page: Any, login: Any
    ) -> None:
        from playwright.sync_api import expect

        _merchant_id, product_id = _pending_product(live_server)
        live_server.create_user(Role.ADMIN, "admin")
        login("admin")
        page.goto(live_server.url("/console/products/review"))
        row = page.locator(f'tr[data-product-id="{product_id}"]')
        row.get_by_role("button", name="驳回").click()
        # The browser blocks the empty required field; the product stays pending.
        expect(row).to_be_visible()
        with live_server.unit_of_work() as session:
            product = session.get(Product, product_id)
            assert product is not None
            assert product.review_status == ReviewStatus.PENDING

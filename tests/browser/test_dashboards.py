"""The analytics dashboards draw their ECharts charts in the browser, and the filter form
re-reads the figures for another date range."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest

from siyu.kit.time import utc_now
from siyu.models import Consumer, Contact, Merchant, MerchantStatus, Order, OrderLine, Product, Role
from siyu.models.catalog import ReviewStatus
from siyu.models.orders import OrderSource, OrderStatus
from siyu.models.pool import ContactSourceKind, ContactState
from tests.browser.conftest import LiveServer
from tests.pool.conftest import make_account

pytestmark = pytest.mark.browser

SCREENSHOTS = os.environ.get("SIYU_TEST_SCREENSHOTS", "")


def _facts(live_server: LiveServer) -> None:
    now = utc_now()
    with live_server.unit_of_work() as session:
        merchant = Merchant(name="行者箱包", contact_name="", status=MerchantStatus.ACTIVE)
        session.add(merchant)
        session.flush()
        product = Product(
            merchant_id=merchant.id,
            title="拉杆箱",
            category="箱包",
            list_price_fen=19900,
            promo_price_fen=12900,
            stock=10,
            commission_rate_bp=1000,
            platform_take_bp=2000,
            review_status=ReviewStatus.APPROVED,
        )
        session.add(product)
        account = make_account(session, "一号")
        session.flush()
        for number, days_ago in enumerate((1, 2, 2)):
            buyer = Consumer(nickname=f"买家{number}", union_id=f"u-{number}")
            session.add(buyer)
            session.flush()
            paid_at = now - timedelta(days=days_ago)
            order = Order(
                order_no=f"B{number:05d}",
                source=OrderSource.H5,
                consumer_id=buyer.id,
                status=OrderStatus.PAID,
                items_fen=12900,
                paid_fen=12900,
                paid_at=paid_at,
            )
            session.add(order)
            session.flush()
            session.add(
                OrderLine(
                    order_id=order.id,
                    product_id=product.id,
                    merchant_id=merchant.id,
                    title="拉杆箱",
                    quantity=1,
                    unit_price_fen=12900,
                    paid_fen=12900,
                )
            )
            session.add(
                Contact(
                    consumer_id=buyer.id,
                    account_id=account.id,
                    source_kind=ContactSourceKind.COURIER,
                    state=ContactState.CONFIRMED,
                    district_code="360702",
                    added_at=paid_at,
                    confirmed_at=paid_at,
                )
            )


class TestDashboards:
    def test_sales_charts_and_filter(self, live_server: LiveServer, page: Any, login: Any) -> None:
        from playwright.sync_api import expect

        _facts(live_server)
        live_server.create_user(Role.ADMIN, "admin")
        login("admin")
        page.goto(live_server.url("/console/analytics/sales"))
        for chart in ("chart-gmv", "chart-orders", "chart-new-consumers", "chart-tiers"):
            element = page.get_by_test_id(chart)
            expect(element).to_have_attribute("data-siyu-chart-state", "drawn")
            expect(element.locator("svg")).to_have_count(1)
        expect(page.get_by_test_id("kpi-gmv")).to_have_text("¥387.00")
        expect(page.get_by_test_id("kpi-lower-tiers")).to_have_text("100.0%")
        expect(page.get_by_test_id("chart-tiers")).to_contain_text("三线")
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/dashboard-sales.png", full_page=True)
        page.get_by_label("开始日期").fill("2020-01-01")
        page.get_by_label("结束日期").fill("2020-01-07")
        page.get_by_role("button", name="查看").click()
        expect(page.get_by_test_id("kpi-gmv")).to_have_text("¥0.00")
        expect(page.get_by_test_id("chart-gmv")).to_have_attribute("data-siyu-chart-state", "empty")

    def test_fleet_and_cohorts(self, live_server: LiveServer, page: Any, login: Any) -> None:
        from playwright.sync_api import expect

        _facts(live_server)
        live_server.create_user(Role.OPERATOR, "ops")
        login("ops")
        page.goto(live_server.url("/console/analytics/fleet"))
        expect(page.get_by_test_id("chart-fleet-status")).to_have_attribute(
            "data-siyu-chart-state", "drawn"
        )
        expect(page.get_by_test_id("kpi-friends")).to_have_text("3")
        page.goto(live_server.url("/console/analytics/cohorts"))
        expect(page.get_by_test_id("table-cohorts")).to_contain_text("首单人数")
        # Nobody ordered twice: the returns chart says so instead of drawing zeros.
        expect(page.get_by_test_id("chart-cohorts")).to_have_attribute(
            "data-siyu-chart-state", "empty"
        )

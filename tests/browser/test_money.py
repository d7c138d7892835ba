"""The money loop in a browser: a consumer checks out on H5; a promoter withdraws and the
platform reviews and pays it out in the console."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from siyu.commissions import service as commissions
from siyu.ledger import service as ledger
from siyu.ledger.rules import payout_clearing, promoter_available
from siyu.models import (
    Commission,
    CommissionState,
    Order,
    OrderStatus,
    Product,
    ReviewStatus,
    Role,
    Withdrawal,
    WithdrawalStatus,
)
from tests.browser.conftest import LiveServer
from tests.withdrawals.world import PAID_AT, build_world, place

pytestmark = pytest.mark.browser


class TestCheckoutInBrowser:
    def test_consumer_buys_two_and_sees_the_paid_order(
        self, live_server: LiveServer, page: Any, tmp_path: Path
    ) -> None:
        from playwright.sync_api import expect

        world = build_world(live_server.database)
        with live_server.unit_of_work() as session:
            product = session.get(Product, world.product_id)
            assert product is not None
            product.review_status = ReviewStatus.APPROVED
            product.on_shelf = True

        page.goto(live_server.url(f"/m/checkout/{world.product_id}"))
        expect(page.get_by_test_id("product-title")).to_have_text("酸奶")
        page.get_by_label("购买数量").fill("2")
        page.get_by_label("手机号").fill("13912345678")
        page.get_by_label("收货人姓名").fill("李女士")
        page.get_by_test_id("pay").click()

        expect(page.locator("body")).to_contain_text("已支付")
        expect(page.locator("body")).to_contain_text("108.00")
        expect(page.locator("body")).to_contain_text("139****5678")
        expect(page.locator("body")).not_to_contain_text("13912345678")
        page.screenshot(path=str(tmp_path / "checkout.png"), full_page=True)
        with live_server.unit_of_work() as session:
            [order] = session.scalars(select(Order)).all()
            assert (order.status, order.paid_fen, order.lines[0].quantity) == (
                OrderStatus.PAID,
                10800,
                2,
            )
            product = session.get(Product, world.product_id)
            assert product is not None
            assert product.stock == 98

    def test_stock_sold_out_meanwhile_shows_the_error_and_writes_nothing(
        self, live_server: LiveServer, page: Any
    ) -> None:
        from playwright.sync_api import expect

        world = build_world(live_server.database)
        with live_server.unit_of_work() as session:
            product = session.get(Product, world.product_id)
            assert product is not None
            product.review_status = ReviewStatus.APPROVED
            product.on_shelf = True

        page.goto(live_server.url(f"/m/checkout/{world.product_id}"))
        page.get_by_label("购买数量").fill("2")
        page.get_by_label("手机号").fill("13912345678")
        with live_server.unit_of_work() as session:  # others bought while the page was open
            product = session.get(Product, world.product_id)
            assert product is not None
            product.stock = 1
        page.get_by_test_id("pay").click()
        expect(page.get_by_test_id("checkout-error")).to_contain_text("库存")
        expect(page.get_by_label("手机号")).to_have_value("13912345678")
        with live_server.unit_of_work() as session:
            assert session.scalars(select(Order)).all() == []
            product = session.get(Product, world.product_id)
            assert product is not None
            assert product.stock == 1


class TestWithdrawalInBrowser:
    def test_promoter_withdraws_platform_approves_and_pays(
        self, live_server: LiveServer, page: Any, login: Any, tmp_path: Path
    ) -> None:
        from playwright.sync_api import expect

        world = build_world(live_server.database)
        with live_server.unit_of_work() as session:
            for _ in range(3):  # 3 × 2.43 = 7.29 settled … plus one large order below
                order = place(session, world)
                commissions.on_order_placed(session, order)
                order.received_at = PAID_AT + timedelta(days=1)
                commissions.on_order_received(session, order)
            order = place(session, world, paid_fen=100_000)  # L1 45.00
            commissions.on_order_placed(session, order)
            order.received_at = PAID_AT + timedelta(days=1)
            commissions.on_order_received(session, order)
            commissions.settle_due(session, PAID_AT + timedelta(days=30))
        live_server.create_user(Role.ADMIN, "admin", display_name="财务小王")

        login(f"promoter-{world.l1_id}")
        page.goto(live_server.url("/h5/withdraw"))
        expect(page.get_by_test_id("withdraw-available")).to_have_text("52.29")
        page.get_by_label("提现金额（元，最低 10 元）").fill("50")
        page.get_by_role("button", name="申请提现").click()
        expect(page.get_by_test_id("withdraw-available")).to_have_text("2.29")

        page.goto(live_server.url("/h5/withdraw"))
        page.get_by_label("提现金额（元，最低 10 元）").fill("9.99")
        page.get_by_role("button", name="申请提现").click()
        expect(page.locator("body")).to_contain_text("单次提现至少 10")
        expect(page.get_by_test_id("withdraw-available")).to_have_text("2.29")

        page.context.clear_cookies()
        login("admin")
        page.get_by_role("link", name="提现").click()
        table = page.get_by_test_id("withdrawal-table")
        expect(table).to_contain_text("50.00")
        table.get_by_role("button", name="批准").click()
        expect(page.get_by_test_id("withdrawal-table")).to_contain_text("SYW")
        page.get_by_test_id("withdrawal-table").get_by_role("button", name="已打款").click()
        expect(page.get_by_test_id("withdrawal-table")).to_contain_text("已打款")
        page.screenshot(path=str(tmp_path / "withdrawals.png"), full_page=True)

        with live_server.unit_of_work() as session:
            [withdrawal] = session.scalars(select(Withdrawal)).all()
            assert (withdrawal.status, withdrawal.amount_fen) == (WithdrawalStatus.PAID, 5000)
            assert withdrawal.bill_no == f"SYW{withdrawal.id:012d}"
            assert ledger.balance(session, promoter_available(world.l1_id)) == 229
            assert ledger.balance(session, payout_clearing()) == 5000
            assert ledger.check_balanced(session) == []
            states = session.scalars(
                select(Commission.state)
                .where(Commission.promoter_id == world.l1_id)
                .order_by(Commission.id)
            ).all()
            # 50.00 paid covers 2.43 × 3 and the 45.00 (7.29 + 45.00 = 52.29 > 50.00: the last
            # one is not covered in full, so it stays settled).
            assert states == [CommissionState.PAID_OUT] * 3 + [CommissionState.SETTLED]

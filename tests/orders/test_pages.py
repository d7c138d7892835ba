"""H5 checkout and console order pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from siyu.db import Database
from siyu.models import Order, OrderStatus, Role
from siyu.orders import service
from siyu.orders.schemas import DraftLine
from tests.catalog.conftest import Catalog
from tests.conftest import ConsoleClient, count_rows
from tests.orders.conftest import Shop, h5_draft, live_coupon, load_order, stock_of
from tests.promoters.conftest import MadePromoter


def _only_order(database: Database) -> Order:
    with database.sessions() as session:
        order = session.scalars(select(Order)).one()
        session.expunge_all()
        return order


class TestCheckout:
    def test_page_lists_eligible_coupons_and_keeps_click(
        self, client: ConsoleClient, shop: Shop, catalog: Catalog
    ) -> None:
        live_coupon(catalog, shop.merchant_id, name="满50减10")
        page = client.get(f"/m/checkout/{shop.product_id}?click=abc123")
        assert page.status_code == 200
        assert "满50减10" in page.text
        assert 'name="click" value="abc123"' in page.text
        assert "模拟支付" in page.text

    def test_pay_creates_order_and_shows_it(
        self,
        client: ConsoleClient,
        database: Database,
        shop: Shop,
        make_promoter: Callable[..., MadePromoter],
        make_click: Callable[..., str],
    ) -> None:
        promoter = make_promoter("推手", 2)
        click = make_click(promoter.id, shop.product_id)
        response = client.submit(
            f"/m/checkout/{shop.product_id}",
            {"quantity": "2", "phone": "13900000007", "nickname": "小李", "click": click},
        )
        assert response.status_code == 303
        order = _only_order(database)
        assert response.headers["location"] == f"/m/orders/{order.order_no}"
        assert load_order(database, order.id).lines[0].l1_promoter_id == promoter.id
        page = client.get(response.headers["location"])
        assert "已支付" in page.text
        assert "139****0007" in page.text
        assert "108.00" in page.text

    def test_out_of_stock_keeps_input(
        self, client: ConsoleClient, database: Database, shop: Shop
    ) -> None:
        response = client.submit(
            f"/m/checkout/{shop.product_id}",
            {"quantity": "11", "phone": "13900000007", "nickname": "小李", "click": "tok"},
        )
        assert response.status_code == 409
        assert "库存不足" in response.text
        assert 'value="13900000007"' in response.text
        assert 'name="click" value="tok"' in response.text
        assert count_rows(database, Order) == 0
        assert stock_of(database, shop.product_id) == 10

    def test_coupon_limit_message(
        self, client: ConsoleClient, shop: Shop, catalog: Catalog
    ) -> None:
        batch = live_coupon(catalog, shop.merchant_id)
        form = {"quantity": "1", "phone": "13900000007", "coupon_batch_id": str(batch)}
        assert client.submit(f"/m/checkout/{shop.product_id}", form).status_code == 303
        again = client.submit(f"/m/checkout/{shop.product_id}", form)
        assert again.status_code == 409
        assert "每人限用" in again.text

    def test_unknown_product(self, client: ConsoleClient, shop: Shop) -> None:
        assert client.get("/m/checkout/999999").status_code == 404


class TestConsole:
    def _two_merchant_order(self, database: Database, shop: Shop, catalog: Catalog) -> int:
        other_merchant = catalog.merchant("别家")
        other = catalog.approved(other_merchant, title="保温杯")
        with database.sessions() as session:
            order = service.place_order(
                session,
                h5_draft(
                    shop.product_id,
                    lines=(
                        DraftLine(product_id=shop.product_id, quantity=1),
                        DraftLine(product_id=other, quantity=1),
                    ),
                ),
            )
            session.commit()
            return order.id

    def test_admin_sees_list_detail_and_ships(
        self,
        client: ConsoleClient,
        database: Database,
        shop: Shop,
        catalog: Catalog,
        make_user: Any,
    ) -> None:
        order_id = self._two_merchant_order(database, shop, catalog)
        make_user(Role.ADMIN, "boss")
        client.login("boss")
        listing = client.get("/console/orders?status=paid")
        assert listing.text.count('data-testid="order-row"') == 1
        assert "139****0001" in listing.text
        detail = client.get(f"/console/orders/{order_id}")
        assert detail.text.count('data-testid="line-row"') == 2
        assert "13900000001" not in detail.text
        client.submit(f"/console/orders/{order_id}/ship")
        assert load_order(database, order_id).status == OrderStatus.SHIPPED
        # Cancelling a shipped order is refused with a message and nothing changes.
        client.submit(f"/console/orders/{order_id}/cancel")
        assert load_order(database, order_id).status == OrderStatus.SHIPPED
        assert "不能取消" in client.get(f"/console/orders/{order_id}").text

    def test_merchant_sees_only_its_lines(
        self,
        client: ConsoleClient,
        database: Database,
        shop: Shop,
        catalog: Catalog,
        make_user: Any,
    ) -> None:
        order_id = self._two_merchant_order(database, shop, catalog)
        make_user(Role.MERCHANT, "shopkeeper", merchant_id=shop.merchant_id)
        client.login("shopkeeper")
        detail = client.get(f"/console/orders/{order_id}")
        assert detail.status_code == 200
        assert detail.text.count('data-testid="line-row"') == 1
        assert "保温杯" not in detail.text
        # A mixed order is not the merchant's to ship alone.
        client.submit(f"/console/orders/{order_id}/ship")
        assert load_order(database, order_id).status == OrderStatus.PAID

    def test_merchant_without_lines_gets_404(
        self,
        client: ConsoleClient,
        database: Database,
        shop: Shop,
        catalog: Catalog,
        make_user: Any,
    ) -> None:
        with database.sessions() as session:
            order = service.place_order(session, h5_draft(shop.product_id))
            session.commit()
        stranger = catalog.merchant("陌生商家")
        make_user(Role.MERCHANT, "stranger", merchant_id=stranger)
        client.login("stranger")
        assert client.get(f"/console/orders/{order.id}").status_code == 404
        assert 'data-testid="order-row"' not in client.get("/console/orders").text

    def test_after_sale_request_and_approve(
        self, client: ConsoleClient, database: Database, shop: Shop, make_user: Any
    ) -> None:
        with database.sessions() as session:
            order = service.place_order(session, h5_draft(shop.product_id))
            session.commit()
            line_id = order.lines[0].id
        make_user(Role.ADMIN, "boss")
        client.login("boss")
        client.submit(
            f"/console/orders/{order.id}/lines/{line_id}/after-sales",
            {"amount_yuan": "10.50", "kind": "refund", "reason": "破损"},
        )
        detail = client.get(f"/console/orders/{order.id}")
        assert "处理中" in detail.text
        with database.sessions() as session:
            after_sale_id = service.after_sales_of(session, None, load_order(database, order.id))[
                0
            ].id
        client.submit(f"/console/after-sales/{after_sale_id}/approve", {"order_id": str(order.id)})
        assert load_order(database, order.id).lines[0].refunded_fen == 1050

    def test_import_page(
        self, client: ConsoleClient, database: Database, shop: Shop, make_user: Any
    ) -> None:
        make_user(Role.ADMIN, "boss")
        client.login("boss")
        assert "external_order_id" in client.get("/console/orders/import").text
        from siyu.orders.imports import COLUMNS

        text = (
            ",".join(COLUMNS)
            + "\n"
            + (
                f"X-1,1,{shop.merchant_id},{shop.product_id},1,54.00,13900000005,,,\n"
                f"X-2,1,{shop.merchant_id},{shop.product_id},0,54.00,13900000005,,,\n"
            )
        )
        response = client.post(
            "/console/orders/import",
            data={"csrf_token": client.csrf()},
            files={"file": ("orders.csv", text.encode(), "text/csv")},
        )
        assert response.status_code == 200
        assert "导入订单 1 个" in response.text
        assert response.text.count('data-testid="import-error-row"') == 1
        assert count_rows(database, Order) == 1

"""JSON API: scoping, masking, lifecycle conflicts, after-sales."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from siyu.db import Database
from siyu.models import OrderStatus, Role
from siyu.orders import service
from tests.orders.conftest import Shop, h5_draft, load_order
from tests.promoters.conftest import MadePromoter


def _order(database: Database, shop: Shop, click: str | None = None) -> int:
    with database.sessions() as session:
        order = service.place_order(session, h5_draft(shop.product_id, 1, click_token=click))
        session.commit()
        return order.id


def test_promoter_sees_attributed_orders_with_masked_phone(
    api_as: Any,
    database: Database,
    shop: Shop,
    make_promoter: Callable[..., MadePromoter],
    make_click: Callable[..., str],
) -> None:
    promoter = make_promoter("推手", 2)
    mine = _order(database, shop, make_click(promoter.id, shop.product_id))
    with database.sessions() as session:
        other = service.place_order(session, h5_draft(shop.product_id, 1, phone="13900000099"))
        session.commit()
    client = api_as(promoter.principal)
    listing = client.get("/api/v1/orders").json()
    assert [item["id"] for item in listing] == [mine]
    assert listing[0]["buyer_phone_masked"] == "139****0001"
    assert "13900000001" not in client.get(f"/api/v1/orders/{mine}").text
    assert client.get(f"/api/v1/orders/{other.id}").status_code == 404
    # Promoters cannot act on orders.
    assert client.post(f"/api/v1/orders/{mine}/ship").status_code == 403


def test_lifecycle_over_the_api(api_as: Any, admin: Any, database: Database, shop: Shop) -> None:
    order_id = _order(database, shop)
    client = api_as(admin)
    assert client.post(f"/api/v1/orders/{order_id}/ship").json()["status"] == "shipped"
    conflict = client.post(f"/api/v1/orders/{order_id}/cancel")
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "order_transition_invalid"
    assert load_order(database, order_id).status == OrderStatus.SHIPPED
    line_id = load_order(database, order_id).lines[0].id
    created = client.post(
        "/api/v1/after-sales", json={"line_id": line_id, "amount_fen": 5400, "reason": "不想要了"}
    )
    assert created.status_code == 201
    too_much = client.post("/api/v1/after-sales", json={"line_id": line_id, "amount_fen": 1})
    assert too_much.status_code == 422
    decided = client.post(
        f"/api/v1/after-sales/{created.json()['id']}/decision", json={"approve": True}
    )
    assert decided.json()["status"] == "approved"
    line = load_order(database, order_id).lines[0]
    assert (line.refunded_fen, line.open_aftersales) == (5400, 0)


def test_merchant_scope(api_as: Any, make_user: Any, database: Database, shop: Shop) -> None:
    order_id = _order(database, shop)
    own = make_user(Role.MERCHANT, "own", merchant_id=shop.merchant_id)
    assert api_as(own).post(f"/api/v1/orders/{order_id}/ship").status_code == 200

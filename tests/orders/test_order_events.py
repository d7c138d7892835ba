"""POST /api/v1/webhooks/order-events: lifecycle and after-sales of webhook orders, exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from siyu.db import Database
from siyu.ledger import service as ledger
from siyu.models import (
    AfterSale,
    AfterSaleStatus,
    Commission,
    CommissionState,
    LedgerTransaction,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
)
from siyu.orders.rules import sign
from tests.conftest import ConsoleClient, count_rows
from tests.orders.conftest import Shop, stock_of
from tests.promoters.conftest import MadePromoter

EVENTS = "/api/v1/webhooks/order-events"
ORDERS = "/api/v1/webhooks/orders"


def signed_post(client: ConsoleClient, url: str, data: dict[str, Any], secret: str) -> Any:
    body = json.dumps(data, ensure_ascii=False).encode()
    return client.post(
        url,
        content=body,
        headers={
            "X-Siyu-Signature": sign(secret, int(time.time()), body),
            "Content-Type": "application/json",
        },
    )


def order_payload(shop: Shop, click_token: str | None = None) -> dict[str, Any]:
    return {
        "order_id": "JD-2001",
        "merchant_id": shop.merchant_id,
        "buyer": {"phone": "13900000009", "nickname": "外部买家"},
        "lines": [
            {"line_id": "A", "product_id": shop.product_id, "quantity": 1, "unit_price_fen": 5400},
            {"line_id": "B", "product_id": shop.product_id, "quantity": 2, "unit_price_fen": 5000},
        ],
        "freight_fen": 600,
        "click_token": click_token,
    }


def event(shop: Shop, event_id: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": kind,
        "order_id": "JD-2001",
        "merchant_id": shop.merchant_id,
        **fields,
    }


@pytest.fixture
def sender(client: ConsoleClient, webhook_secret: str) -> Callable[[dict[str, Any]], Any]:
    def send(data: dict[str, Any]) -> Any:
        return signed_post(client, EVENTS, data, webhook_secret)

    return send


@pytest.fixture
def placed(client: ConsoleClient, shop: Shop, webhook_secret: str) -> dict[str, Any]:
    response = signed_post(client, ORDERS, order_payload(shop), webhook_secret)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def order_state(database: Database) -> tuple[OrderStatus, list[tuple[int, int]]]:
    with database.sessions() as session:
        order = session.scalar(select(Order))
        assert order is not None
        lines = session.scalars(select(OrderLine).order_by(OrderLine.id)).all()
        return order.status, [(line.refunded_fen, line.open_aftersales) for line in lines]


def after_sales(database: Database) -> list[tuple[str | None, AfterSaleStatus, int]]:
    with database.sessions() as session:
        rows = session.scalars(select(AfterSale).order_by(AfterSale.id)).all()
        return [(row.external_id, row.status, row.amount_fen) for row in rows]


class TestLifecycle:
    def test_shipped_then_received(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        first = sender(event(shop, "e1", "shipped"))
        assert first.status_code == 200, first.text
        body = first.json()
        assert (body["outcome"], body["duplicate"], body["order"]["status"]) == (
            "applied",
            False,
            "shipped",
        )
        assert sender(event(shop, "e2", "received")).json()["order"]["status"] == "received"
        assert order_state(database)[0] == OrderStatus.RECEIVED

    def test_late_shipped_after_received_changes_nothing(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        assert sender(event(shop, "e1", "received")).json()["order"]["status"] == "received"
        late = sender(event(shop, "e2", "shipped"))
        assert late.status_code == 200
        assert (late.json()["outcome"], late.json()["order"]["status"]) == ("already", "received")
        assert count_rows(database, OrderEvent) == 2

    def test_cancelled_returns_stock(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        assert stock_of(database, shop.product_id) == 7
        assert sender(event(shop, "e1", "cancelled")).json()["order"]["status"] == "cancelled"
        assert stock_of(database, shop.product_id) == 10

    def test_cancel_after_shipping_is_refused_and_not_recorded(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        sender(event(shop, "e1", "shipped"))
        response = sender(event(shop, "e2", "cancelled"))
        assert response.status_code == 409
        assert response.json()["error"] == "order_transition_invalid"
        assert order_state(database)[0] == OrderStatus.SHIPPED
        assert count_rows(database, OrderEvent) == 1
        assert stock_of(database, shop.product_id) == 7


class TestAfterSales:
    def test_opened_blocks_then_approved_refunds(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        opened = sender(
            event(
                shop, "e1", "after_sale_opened", line_id="B", after_sale_id="AS1", amount_fen=3000
            )
        )
        assert opened.status_code == 200, opened.text
        assert order_state(database)[1] == [(0, 0), (0, 1)]
        approved = sender(event(shop, "e2", "after_sale_approved", after_sale_id="AS1"))
        assert approved.json()["outcome"] == "applied"
        assert order_state(database)[1] == [(0, 0), (3000, 0)]
        assert after_sales(database) == [("webhook:JD-2001:AS1", AfterSaleStatus.APPROVED, 3000)]

    def test_rejected_without_reason_gets_the_default_reason(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        sender(
            event(shop, "e1", "after_sale_opened", line_id="A", after_sale_id="AS1", amount_fen=100)
        )
        assert sender(event(shop, "e2", "after_sale_rejected", after_sale_id="AS1")).is_success
        with database.sessions() as session:
            row = session.scalar(select(AfterSale))
            assert row is not None
            assert (row.status, row.decision_reason) == (
                AfterSaleStatus.REJECTED,
                "外部平台已拒绝售后",
            )
        assert order_state(database)[1] == [(0, 0), (0, 0)]

    def test_refunded_in_one_event(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        response = sender(
            event(shop, "e1", "refunded", line_id="A", after_sale_id="R1", amount_fen=5400)
        )
        assert response.status_code == 200, response.text
        assert order_state(database)[1] == [(5400, 0), (0, 0)]

    def test_decided_after_sale_cannot_flip(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        sender(event(shop, "e1", "refunded", line_id="A", after_sale_id="R1", amount_fen=1000))
        response = sender(event(shop, "e2", "after_sale_rejected", after_sale_id="R1"))
        assert response.status_code == 409
        assert response.json()["error"] == "external_after_sale_conflict"
        assert order_state(database)[1] == [(1000, 0), (0, 0)]
        assert count_rows(database, OrderEvent) == 1

    def test_refund_above_what_is_left_is_refused(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        response = sender(
            event(shop, "e1", "refunded", line_id="A", after_sale_id="R1", amount_fen=5401)
        )
        assert response.status_code == 422
        assert response.json()["error"] == "after_sale_amount_invalid"
        assert (count_rows(database, AfterSale), count_rows(database, OrderEvent)) == (0, 0)


class TestExactlyOnce:
    def test_replayed_event_has_one_effect(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        data = event(shop, "e1", "refunded", line_id="B", after_sale_id="R1", amount_fen=2500)
        first = sender(data)
        second = sender(data)
        assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
        assert order_state(database)[1] == [(0, 0), (2500, 0)]
        assert count_rows(database, AfterSale) == 1

    def test_same_after_sale_under_a_new_event_id_is_already_done(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        sender(event(shop, "e1", "refunded", line_id="B", after_sale_id="R1", amount_fen=2500))
        again = sender(
            event(shop, "e2", "refunded", line_id="B", after_sale_id="R1", amount_fen=2500)
        )
        assert again.json()["outcome"] == "already"
        assert order_state(database)[1] == [(0, 0), (2500, 0)]

    def test_concurrent_duplicates_have_one_effect(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        data = event(shop, "e1", "refunded", line_id="B", after_sale_id="R1", amount_fen=2500)
        with ThreadPoolExecutor(max_workers=6) as pool:
            responses = list(pool.map(lambda _i: sender(data), range(6)))
        assert [r.status_code for r in responses] == [200] * 6
        assert sorted(r.json()["duplicate"] for r in responses) == [False] + [True] * 5
        assert order_state(database)[1] == [(0, 0), (2500, 0)]
        assert (count_rows(database, AfterSale), count_rows(database, OrderEvent)) == (1, 1)


class TestCommission:
    def test_refund_event_recomputes_the_commission_at_the_frozen_rate(
        self,
        client: ConsoleClient,
        database: Database,
        shop: Shop,
        webhook_secret: str,
        sender: Any,
        make_promoter: Callable[..., MadePromoter],
        make_click: Callable[..., str],
    ) -> None:
        promoter = make_promoter("推手", 2)
        click = make_click(promoter.id, shop.product_id)
        placed = signed_post(client, ORDERS, order_payload(shop, click), webhook_secret)
        assert placed.status_code == 200, placed.text
        # Line A: 54.00 × 5% × 90% = 2.43. Refund 27.00: base 2700 → pool 135, take 13, L1 122.
        sender(event(shop, "e1", "refunded", line_id="A", after_sale_id="R1", amount_fen=2700))
        with database.sessions() as session:
            line_a = session.scalar(select(OrderLine).where(OrderLine.external_key.like("%:A")))
            assert line_a is not None
            [row] = session.scalars(
                select(Commission).where(Commission.order_line_id == line_a.id)
            ).all()
            assert (row.amount_fen, row.state) == (122, CommissionState.ESTIMATED)
            keys = session.scalars(select(LedgerTransaction.idempotency_key)).all()
            assert sum(1 for key in keys if key.startswith("commission:refund:")) == 1
            assert ledger.check_balanced(session) == []


class TestRefused:
    def test_unknown_order(self, database: Database, shop: Shop, sender: Any) -> None:
        response = sender(event(shop, "e1", "shipped"))
        assert response.status_code == 404
        assert response.json()["error"] == "external_order_not_found"
        assert count_rows(database, OrderEvent) == 0

    def test_other_merchants_order(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        data = event(shop, "e1", "cancelled")
        data["merchant_id"] = shop.merchant_id + 1000
        response = sender(data)
        assert response.status_code == 404
        assert order_state(database)[0] == OrderStatus.PAID
        assert stock_of(database, shop.product_id) == 7

    @pytest.mark.parametrize(
        ("fields", "detail"),
        [
            ({"type": "after_sale_opened", "line_id": "A"}, "after_sale_id, amount_fen"),
            ({"type": "refunded", "after_sale_id": "R", "amount_fen": 1}, "line_id"),
            ({"type": "after_sale_approved"}, "after_sale_id"),
            ({"type": "exploded"}, "type"),
        ],
    )
    def test_incomplete_events(
        self,
        database: Database,
        shop: Shop,
        placed: dict[str, Any],
        sender: Any,
        fields: dict[str, Any],
        detail: str,
    ) -> None:
        rest = {name: value for name, value in fields.items() if name != "type"}
        response = sender(event(shop, "e1", fields["type"], **rest))
        assert response.status_code == 422
        assert response.json()["error"] == "webhook_payload_invalid"
        assert detail in response.json()["detail"]
        assert (count_rows(database, OrderEvent), count_rows(database, AfterSale)) == (0, 0)

    def test_unknown_line_and_unknown_after_sale(
        self, database: Database, shop: Shop, placed: dict[str, Any], sender: Any
    ) -> None:
        line = sender(event(shop, "e1", "refunded", line_id="Z", after_sale_id="R", amount_fen=1))
        assert line.json()["error"] == "external_line_not_found"
        decided = sender(event(shop, "e2", "after_sale_approved", after_sale_id="nope"))
        assert decided.json()["error"] == "external_after_sale_not_found"
        assert (count_rows(database, OrderEvent), count_rows(database, AfterSale)) == (0, 0)

    def test_tampered_event(
        self,
        client: ConsoleClient,
        database: Database,
        shop: Shop,
        placed: dict[str, Any],
        webhook_secret: str,
    ) -> None:
        body = json.dumps(event(shop, "e1", "cancelled")).encode()
        signature = sign(webhook_secret, int(time.time()), body)
        tampered = body.replace(b"cancelled", b"received")
        response = client.post(EVENTS, content=tampered, headers={"X-Siyu-Signature": signature})
        assert response.status_code == 401
        assert order_state(database)[0] == OrderStatus.PAID
        assert count_rows(database, OrderEvent) == 0

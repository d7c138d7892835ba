"""POST /api/v1/webhooks/orders: signature, freshness, idempotency (also under concurrency)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from siyu.db import Database
from siyu.models import Consumer, Order, OrderLine
from siyu.orders.rules import sign
from tests.conftest import ConsoleClient, count_rows
from tests.orders.conftest import Shop, stock_of

URL = "/api/v1/webhooks/orders"


def payload(shop: Shop, order_id: str = "JD-1001", **overrides: Any) -> bytes:
    data: dict[str, Any] = {
        "order_id": order_id,
        "merchant_id": shop.merchant_id,
        "buyer": {"phone": "13900000009", "nickname": "外部买家"},
        "lines": [
            {"line_id": "1", "product_id": shop.product_id, "quantity": 2, "unit_price_fen": 5000}
        ],
        "freight_fen": 600,
    }
    data.update(overrides)
    return json.dumps(data).encode()


def post(client: ConsoleClient, body: bytes, secret: str, timestamp: int | None = None) -> Any:
    stamp = int(time.time()) if timestamp is None else timestamp
    return client.post(
        URL,
        content=body,
        headers={"X-Siyu-Signature": sign(secret, stamp, body), "Content-Type": "application/json"},
    )


class TestAccepted:
    def test_creates_the_order(
        self, client: ConsoleClient, database: Database, shop: Shop, webhook_secret: str
    ) -> None:
        response = post(client, payload(shop), webhook_secret)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["source"] == "webhook"
        assert body["external_order_id"] == "JD-1001"
        assert body["paid_fen"] == 10600
        assert body["buyer_phone_masked"] == "139****0009"
        assert body["lines"][0]["paid_fen"] == 10000
        assert stock_of(database, shop.product_id) == 8

    def test_replay_returns_the_same_order_once(
        self, client: ConsoleClient, database: Database, shop: Shop, webhook_secret: str
    ) -> None:
        body = payload(shop)
        first = post(client, body, webhook_secret)
        second = post(client, body, webhook_secret)
        assert second.status_code == 200
        assert second.json()["id"] == first.json()["id"]
        assert count_rows(database, Order) == 1
        assert count_rows(database, OrderLine) == 1
        assert stock_of(database, shop.product_id) == 8

    def test_concurrent_deliveries_have_one_effect(
        self, client: ConsoleClient, database: Database, shop: Shop, webhook_secret: str
    ) -> None:
        body = payload(shop)
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lambda _i: post(client, body, webhook_secret), range(8)))
        assert [r.status_code for r in responses] == [200] * 8
        assert len({r.json()["id"] for r in responses}) == 1
        assert count_rows(database, Order) == 1
        assert count_rows(database, Consumer) == 1
        assert stock_of(database, shop.product_id) == 8


class TestRefused:
    def _nothing_written(self, database: Database, shop: Shop) -> None:
        assert count_rows(database, Order) == 0
        assert count_rows(database, Consumer) == 0
        assert stock_of(database, shop.product_id) == 10

    def test_tampered_body(
        self, client: ConsoleClient, database: Database, shop: Shop, webhook_secret: str
    ) -> None:
        body = payload(shop)
        stamp = int(time.time())
        tampered = body.replace(b'"quantity": 2', b'"quantity": 9')
        response = client.post(
            URL, content=tampered, headers={"X-Siyu-Signature": sign(webhook_secret, stamp, body)}
        )
        assert response.status_code == 401
        assert response.json()["error"] == "webhook_signature_invalid"
        self._nothing_written(database, shop)

    def test_wrong_secret(
        self, client: ConsoleClient, database: Database, shop: Shop, webhook_secret: str
    ) -> None:
        response = post(client, payload(shop), "not-the-secret")
        assert response.status_code == 401
        self._nothing_written(database, shop)

    def test_missing_header(
        self, client: ConsoleClient, database: Database, shop: Shop, webhook_secret: str
    ) -> None:
        response = client.post(URL, content=payload(shop))
        assert response.status_code == 401
        assert response.json()["error"] == "webhook_signature_invalid"
        self._nothing_written(database, shop)

    @pytest.mark.parametrize("skew", [-310, 310])
    def test_stale_or_future_timestamp(
        self,
        client: ConsoleClient,
        database: Database,
        shop: Shop,
        webhook_secret: str,
        skew: int,
    ) -> None:
        response = post(client, payload(shop), webhook_secret, int(time.time()) + skew)
        assert response.status_code == 401
        assert response.json()["error"] == "webhook_timestamp_stale"
        self._nothing_written(database, shop)

    def test_disabled_without_secret(
        self, client: ConsoleClient, database: Database, shop: Shop
    ) -> None:
        response = post(client, payload(shop), "anything")
        assert response.status_code == 401
        assert response.json()["error"] == "webhook_not_configured"
        self._nothing_written(database, shop)

    def test_malformed_payload(
        self, client: ConsoleClient, database: Database, shop: Shop, webhook_secret: str
    ) -> None:
        response = post(client, b'{"order_id": "x"}', webhook_secret)
        assert response.status_code == 422
        assert response.json()["error"] == "webhook_payload_invalid"
        self._nothing_written(database, shop)

    def test_out_of_stock_is_a_conflict(
        self, client: ConsoleClient, database: Database, shop: Shop, webhook_secret: str
    ) -> None:
        lines = [
            {"line_id": "1", "product_id": shop.product_id, "quantity": 11, "unit_price_fen": 1}
        ]
        response = post(client, payload(shop, lines=lines), webhook_secret)
        assert response.status_code == 409
        self._nothing_written(database, shop)

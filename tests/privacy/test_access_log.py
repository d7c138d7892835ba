"""PIPL: every read of a consumer's personal data is logged; the full phone only with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.db import Database
from siyu.errors import PermissionDenied
from siyu.models import Order, PersonalDataAccess, Role
from siyu.orders import service as orders
from siyu.privacy import service as privacy
from tests.catalog.conftest import Catalog, catalog  # noqa: F401  (fixture)
from tests.conftest import ConsoleClient, count_rows
from tests.orders.conftest import BUYER_PHONE, Shop, h5_draft, shop  # noqa: F401  (fixture)


def place(database: Database, shop: Shop, phone: str = BUYER_PHONE) -> Order:  # noqa: F811
    with database.sessions() as session:
        order = orders.place_order(session, h5_draft(shop.product_id, 1, phone=phone))
        session.commit()
        session.expunge_all()
        return order


def log_rows(database: Database) -> list[tuple[int, int, str, str]]:
    with database.sessions() as session:
        rows = session.scalars(select(PersonalDataAccess).order_by(PersonalDataAccess.id)).all()
        return [(r.actor_user_id, r.subject_id, r.purpose, r.fields) for r in rows]


class TestRecordReads:
    def test_nobody_and_the_system_are_not_logged(self, session: Session) -> None:
        system = Principal(user_id=0, username="system", display_name="系统", role=Role.ADMIN)
        assert privacy.record_reads(session, None, [1, 2], "job") == 0
        assert privacy.record_reads(session, system, [1], "job") == 0
        session.flush()
        assert session.scalars(select(PersonalDataAccess)).all() == []

    def test_one_row_per_distinct_subject(
        self,
        session: Session,
        database: Database,
        admin: Principal,
        shop: Shop,  # noqa: F811
    ) -> None:
        first = place(database, shop, "13900000001")
        second = place(database, shop, "13900000002")
        ids = [first.consumer_id, second.consumer_id, first.consumer_id, None]
        assert privacy.record_reads(session, admin, ids, "console.orders.list") == 2
        session.commit()
        assert log_rows(database) == [
            (admin.user_id, min(ids[:2]), "console.orders.list", "phone_masked,nickname"),
            (admin.user_id, max(ids[:2]), "console.orders.list", "phone_masked,nickname"),
        ]


class TestLoggedReads:
    def test_api_detail_and_list(
        self,
        api_as: Any,
        database: Database,
        admin: Principal,
        shop: Shop,  # noqa: F811
    ) -> None:
        order = place(database, shop)
        api = api_as(admin)
        assert api.get(f"/api/v1/orders/{order.id}").status_code == 200
        assert api.get("/api/v1/orders").status_code == 200
        assert [(row[1], row[2]) for row in log_rows(database)] == [
            (order.consumer_id, "api.orders.detail"),
            (order.consumer_id, "api.orders.list"),
        ]

    def test_refused_read_logs_nothing(
        self,
        api_as: Any,
        make_user: Any,
        database: Database,
        shop: Shop,  # noqa: F811
        catalog: Catalog,  # noqa: F811
    ) -> None:
        order = place(database, shop)
        other = make_user(Role.MERCHANT, "other-shop", merchant_id=catalog.merchant("别家小店"))
        response = api_as(other).get(f"/api/v1/orders/{order.id}")
        assert response.status_code == 404
        assert log_rows(database) == []

    def test_console_list_and_detail(
        self,
        client: ConsoleClient,
        database: Database,
        admin: Principal,
        shop: Shop,  # noqa: F811
    ) -> None:
        order = place(database, shop)
        client.login("admin")
        assert client.get("/console/orders").status_code == 200
        assert client.get(f"/console/orders/{order.id}").status_code == 200
        assert [(row[0], row[2]) for row in log_rows(database)] == [
            (admin.user_id, "console.orders.list"),
            (admin.user_id, "console.orders.detail"),
        ]


class TestRevealPhone:
    def test_platform_sees_the_full_number_with_a_reason(
        self,
        client: ConsoleClient,
        database: Database,
        admin: Principal,
        shop: Shop,  # noqa: F811
    ) -> None:
        order = place(database, shop)
        client.login("admin")
        page = client.submit(f"/console/orders/{order.id}/reveal-phone", {"reason": "联系买家退款"})
        assert page.status_code == 200
        assert BUYER_PHONE in page.text
        assert "本次查看已记录" in page.text
        assert (order.consumer_id, "reveal:联系买家退款", "phone_full") in [
            row[1:] for row in log_rows(database)
        ]

    def test_no_reason_no_number(
        self,
        client: ConsoleClient,
        database: Database,
        admin: Principal,
        shop: Shop,  # noqa: F811
    ) -> None:
        order = place(database, shop)
        client.login("admin")
        page = client.submit(f"/console/orders/{order.id}/reveal-phone", {"reason": " "})
        assert page.status_code == 200
        assert BUYER_PHONE not in page.text
        assert "查看完整手机号需填写用途" in page.text
        assert all(row[3] != "phone_full" for row in log_rows(database))

    def test_merchant_cannot_reveal(
        self,
        session: Session,
        database: Database,
        make_user: Any,
        shop: Shop,  # noqa: F811
    ) -> None:
        order = place(database, shop)
        merchant = make_user(Role.MERCHANT, "shop-owner", merchant_id=shop.merchant_id)
        with pytest.raises(PermissionDenied):
            privacy.reveal_phone(session, merchant, order.consumer_id, "发货联系")
        session.rollback()
        assert count_rows(database, PersonalDataAccess) == 0

    def test_merchant_page_has_no_reveal_form(
        self,
        client: ConsoleClient,
        database: Database,
        make_user: Any,
        shop: Shop,  # noqa: F811
    ) -> None:
        order = place(database, shop)
        make_user(Role.MERCHANT, "shop-owner", merchant_id=shop.merchant_id)
        client.login("shop-owner")
        page = client.get(f"/console/orders/{order.id}")
        assert page.status_code == 200
        assert 'data-testid="reveal-form"' not in page.text
        refused = client.submit(f"/console/orders/{order.id}/reveal-phone", {"reason": "发货联系"})
        assert refused.status_code == 403
        assert BUYER_PHONE not in refused.text


class TestAccessLogPage:
    def test_admin_filters_by_consumer(
        self,
        client: ConsoleClient,
        database: Database,
        admin: Principal,
        shop: Shop,  # noqa: F811
    ) -> None:
        first = place(database, shop, "13900000001")
        second = place(database, shop, "13900000002")
        client.login("admin")
        client.get(f"/console/orders/{first.id}")
        client.get(f"/console/orders/{second.id}")
        page = client.get(f"/console/privacy/access-log?consumer={first.consumer_id}")
        assert page.status_code == 200
        assert page.text.count("console.orders.detail") == 1
        assert "脱敏手机号" in page.text

    def test_operator_cannot_read_the_log(
        self, client: ConsoleClient, make_user: Any, database: Database
    ) -> None:
        make_user(Role.OPERATOR, "ops")
        client.login("ops")
        assert client.get("/console/privacy/access-log").status_code == 403

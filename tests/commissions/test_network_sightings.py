"""Shared device / IP: a buyer on a device or IP the promoter used within 24 h holds the
commission for review, from the browser (device id in the session cookie) to the hold."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.commissions import service as commissions
from siyu.commissions.rules import NetworkKind
from siyu.db import Database
from siyu.kit.time import travel_to
from siyu.models import (
    Commission,
    CommissionState,
    FraudHold,
    NetworkSighting,
    NetworkSightingKind,
    Order,
)
from tests.catalog.conftest import catalog  # noqa: F401  (fixture)
from tests.conftest import ConsoleClient
from tests.orders.conftest import Shop, make_click, shop  # noqa: F401  (fixture)
from tests.promoters.conftest import MadePromoter, make_promoter  # noqa: F401  (fixture)
from tests.withdrawals.world import PAID_AT, World, build_world, place


def device(raw: str) -> str:
    return commissions.network_hash(NetworkKind.DEVICE, raw)


def l1_state(session: Session, world: World) -> CommissionState:
    [state] = session.scalars(
        select(Commission.state).where(Commission.promoter_id == world.l1_id)
    ).all()
    return state


class TestSharedNetwork:
    def test_buyer_on_the_promoters_device_within_24_hours_is_held(
        self, session: Session, database: Database
    ) -> None:
        world = build_world(database)
        with travel_to(PAID_AT - timedelta(hours=23, minutes=59)):
            commissions.note_promoter_seen(session, world.l1_id, None, "phone-of-promoter")
        order = place(session, world, device_hash=device("phone-of-promoter"))
        commissions.on_order_placed(session, order)
        assert l1_state(session, world) == CommissionState.ON_HOLD
        [hold] = session.scalars(select(FraudHold)).all()
        assert hold.reasons == ["shared_device"]

    def test_sighting_older_than_24_hours_or_after_the_order_does_not_count(
        self, session: Session, database: Database
    ) -> None:
        world = build_world(database)
        with travel_to(PAID_AT - timedelta(hours=24, seconds=1)):
            commissions.note_promoter_seen(session, world.l1_id, None, "phone-of-promoter")
        with travel_to(PAID_AT + timedelta(minutes=1)):
            commissions.note_promoter_seen(session, world.l1_id, "10.0.0.9", None)
        order = place(session, world, device_hash=device("phone-of-promoter"))
        commissions.on_order_placed(session, order)
        assert l1_state(session, world) == CommissionState.ESTIMATED
        assert session.scalars(select(FraudHold)).all() == []

    def test_other_device_is_not_held(self, session: Session, database: Database) -> None:
        world = build_world(database)
        with travel_to(PAID_AT - timedelta(hours=1)):
            commissions.note_promoter_seen(session, world.l1_id, None, "phone-of-promoter")
        order = place(session, world, device_hash=device("phone-of-a-stranger"))
        commissions.on_order_placed(session, order)
        assert l1_state(session, world) == CommissionState.ESTIMATED


class TestNoteSeen:
    def test_one_row_per_value_per_hour_and_only_hashes(
        self, session: Session, database: Database
    ) -> None:
        world = build_world(database)
        with travel_to(PAID_AT):
            assert commissions.note_promoter_seen(session, world.l1_id, "10.1.2.3", "dev") == 2
        with travel_to(PAID_AT + timedelta(minutes=59)):
            assert commissions.note_promoter_seen(session, world.l1_id, "10.1.2.3", "dev") == 0
            assert commissions.note_promoter_seen(session, world.l1_id, "10.1.2.4", "dev") == 1
        with travel_to(PAID_AT + timedelta(minutes=61)):
            assert commissions.note_promoter_seen(session, world.l1_id, "10.1.2.3", "dev") == 2
        rows = session.scalars(select(NetworkSighting).order_by(NetworkSighting.id)).all()
        assert [row.kind for row in rows] == [
            NetworkSightingKind.DEVICE,
            NetworkSightingKind.IP,
            NetworkSightingKind.IP,
            NetworkSightingKind.DEVICE,
            NetworkSightingKind.IP,
        ]
        assert all(len(row.value_hash) == 64 and "10.1" not in row.value_hash for row in rows)


class TestFromTheBrowser:
    def test_promoter_buying_through_its_own_link_on_its_own_phone_is_held(
        self,
        client: ConsoleClient,
        database: Database,
        shop: Shop,  # noqa: F811
        make_promoter: Callable[..., MadePromoter],  # noqa: F811
        make_click: Callable[..., str],  # noqa: F811
    ) -> None:
        promoter = make_promoter("推手", 7)
        client.login(promoter.principal.username)
        assert client.get("/h5/me").status_code == 200  # seen on this browser
        click = make_click(promoter.id, shop.product_id)
        response = client.submit(
            f"/m/checkout/{shop.product_id}",
            {"quantity": "1", "phone": "13900000077", "nickname": "亲戚", "click": click},
        )
        assert response.status_code == 303, response.text
        with database.sessions() as session:
            order = session.scalars(select(Order)).one()
            assert order.buyer_device_hash is not None
            assert order.buyer_ip_hash is not None
            [hold] = session.scalars(select(FraudHold)).all()
            assert hold.reasons == ["shared_device", "shared_ip"]
            [state] = session.scalars(select(Commission.state)).all()
            assert state == CommissionState.ON_HOLD

    def test_device_id_survives_logout_and_stranger_gets_another(
        self,
        client: ConsoleClient,
        app: object,
        database: Database,
        make_promoter: Callable[..., MadePromoter],  # noqa: F811
    ) -> None:
        promoter = make_promoter("推手", 8)
        client.login(promoter.principal.username)
        client.get("/h5/me")
        client.submit("/logout")
        client.login(promoter.principal.username)
        client.get("/h5/me")
        with ConsoleClient(app, base_url="http://testserver") as stranger:  # type: ignore[arg-type]
            stranger.login(promoter.principal.username)
            stranger.get("/h5/me")
        with database.sessions() as session:
            devices = session.scalars(
                select(NetworkSighting.value_hash).where(
                    NetworkSighting.kind == NetworkSightingKind.DEVICE
                )
            ).all()
        assert len(devices) == 2  # the same browser once (within the hour), the other once
        assert len(set(devices)) == 2

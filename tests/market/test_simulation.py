"""The market simulation through siyu's services: small markets, two simulated weeks.

Each test runs a 500-person market (more promoters than the default so couriers and KOCs are
there) on a platform that has only an admin, so the set-up also lists the minimal catalog.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, create_engine, func, literal, select, text
from sqlalchemy.orm import Session

from siyu.analytics import dashboard
from siyu.analytics.dashboard_rules import Channel
from siyu.auth.principal import Principal
from siyu.auth.schemas import UserCreate
from siyu.auth.service import create_user
from siyu.db import Database, configure_database, unit_of_work
from siyu.demo.market import CAMPAIGN_NAME, market_start, run_market_demo
from siyu.forecasts import service as forecasts
from siyu.kit.time import shanghai_day, to_shanghai, travel_to
from siyu.ledger import service as ledger
from siyu.market.actors import deterministic_routing, market_actors, send_broadcast, state_of
from siyu.market.generator import TIERS, MarketConfig, generate
from siyu.market.setup import MarketState
from siyu.market.simulation import World, simulate
from siyu.models import (
    AccountKind,
    Base,
    ChannelCode,
    ChannelMessage,
    Consumer,
    Contact,
    ContactSourceKind,
    ContactState,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    OperatorAccount,
    Order,
    OrderLine,
    OrderStatus,
    Promoter,
    Role,
)
from siyu.models.campaigns import Campaign
from siyu.models.forecasts import CampaignForecast
from siyu.models.ledger import LedgerAccountKind
from siyu.models.outreach import BroadcastSend, SendStatus
from siyu.outreach import service as outreach
from siyu.outreach.schemas import AudienceIn, BroadcastIn
from siyu.regions import service as regions
from siyu.regions.rules import CityTier
from siyu.segments import service as segments
from siyu.segments.schemas import SegmentIn
from siyu.withdrawals import service as withdrawals

CONFIG = MarketConfig(consumers=500, seed=7, promoters_per_10k=200)
DAYS = 14
LOWER = {CityTier.TIER_3, CityTier.TIER_4, CityTier.TIER_5, CityTier.TIER_6}


def _admin() -> Principal:
    with unit_of_work() as session:
        user = create_user(
            session,
            None,
            UserCreate(username="admin", display_name="管理员", password="x" * 12, role=Role.ADMIN),
        )
        return Principal.of(user)


def _run(admin: Principal) -> tuple[World, MarketState]:
    world = World(
        market=generate(CONFIG), admin=admin, seed=CONFIG.seed, start=market_start(), days=DAYS
    )
    actors = market_actors()
    with deterministic_routing():
        simulate(world, actors)
    return world, state_of(actors)


def _figures(session: Session) -> dict[str, Any]:
    """What a run left in the database, independent of ids and random tokens."""

    def grouped(*columns: Any) -> list[tuple[Any, ...]]:
        query = select(*columns, func.count()).group_by(*columns).order_by(*columns)
        return [tuple(row) for row in session.execute(query).all()]

    return {
        "orders": grouped(Order.status),
        "paid": session.scalar(select(func.sum(Order.paid_fen))),
        "refunded": session.scalar(select(func.sum(OrderLine.refunded_fen))),
        "contacts": grouped(Contact.source_kind, Contact.state, Contact.district_code),
        "sends": grouped(BroadcastSend.status, BroadcastSend.reason),
        "ledger": [
            tuple(row)
            for row in session.execute(
                select(LedgerAccount.kind, LedgerAccount.owner_id, func.sum(LedgerEntry.amount_fen))
                .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
                .group_by(LedgerAccount.kind, LedgerAccount.owner_id)
                .order_by(LedgerAccount.kind, LedgerAccount.owner_id)
            ).all()
        ],
        "consumers": session.scalar(select(func.count()).select_from(Consumer)),
    }


def _fresh_database(db_url: str, tmp_path: Path, template: Path | None) -> Database:
    """An empty migrated database for a second run (a copy of the template on SQLite, the
    same database emptied on PostgreSQL)."""
    if db_url.startswith("sqlite"):
        assert template is not None
        path = tmp_path / "second.db"
        shutil.copy(template, path)
        return configure_database(f"sqlite:///{path}")
    engine = create_engine(db_url)
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return configure_database(db_url)


class TestDeterminism:
    def test_the_same_seed_gives_the_same_market_twice(
        self, database: Database, queue: Any, db_url: str, tmp_path: Path, request: Any
    ) -> None:
        world, _state = _run(_admin())
        with database.sessions() as session:
            first = _figures(session)
        assert world.stats["orders"] > 0
        assert world.stats["adds"] > 0

        template = request.getfixturevalue("sqlite_template") if "sqlite" in db_url else None
        second_database = _fresh_database(db_url, tmp_path, template)
        try:
            again, _ = _run(_admin())
            with second_database.sessions() as session:
                second = _figures(session)
        finally:
            second_database.dispose()
        assert again.stats == world.stats
        assert second == first


def _first_contacts(session: Session) -> dict[int, Contact]:
    """Each consumer's first confirmed contact (earliest confirmation, then lowest id)."""
    first: dict[int, Contact] = {}
    for contact in session.scalars(
        select(Contact)
        .where(Contact.confirmed_at.is_not(None))
        .order_by(Contact.confirmed_at, Contact.id)
    ):
        first.setdefault(contact.consumer_id, contact)
    return first


def _channel_of(session: Session, contact: Contact) -> Channel:
    if contact.source_kind == ContactSourceKind.COURIER:
        return Channel.COURIER
    if contact.source_kind == ContactSourceKind.CODE:
        code = session.get(ChannelCode, contact.source_id)
        personal = code is not None and code.parent_id is not None
        referred = contact.referrer_consumer_id or contact.referrer_promoter_id
        return Channel.FISSION if personal or referred else Channel.CODE
    raise AssertionError(f"the market makes no {contact.source_kind} contacts")


class TestTwoWeeks:
    def test_dashboards_ledger_caps_and_opt_outs_reconcile(
        self, database: Database, queue: Any
    ) -> None:
        admin = _admin()
        world, state = _run(admin)
        stats = world.stats
        first_day = shanghai_day(world.start)
        last_day = first_day + timedelta(days=DAYS - 1)
        with database.sessions() as session:
            board = dashboard.sales(
                session,
                admin,
                dashboard.filters(admin, first_day.isoformat(), last_day.isoformat()),
            )
            # --- GMV and orders, recounted from the order tables ----------------------------
            lines = session.execute(
                select(
                    OrderLine.order_id, OrderLine.paid_fen, OrderLine.refunded_fen, Order.status
                ).join(Order, Order.id == OrderLine.order_id)
            ).all()
            live = [row for row in lines if row.status != OrderStatus.CANCELLED]
            assert board.total.gmv_fen == sum(row.paid_fen - row.refunded_fen for row in live)
            assert board.total.orders == len({row.order_id for row in live})
            assert board.total.gmv_fen == stats["gmv_fen"] - stats["refunded_fen"] - sum(
                row.paid_fen for row in lines if row.status == OrderStatus.CANCELLED
            )
            assert board.total.orders == stats["orders"] - stats["cancelled"]
            channels = {row.channel: row.figures for row in board.channels}
            broadcast_orders = channels[Channel.BROADCAST].orders
            assert broadcast_orders > 0
            assert channels[Channel.PROMOTER_LINK].orders > 0

            # --- new consumers by channel and by city tier, from the contacts ---------------
            first = _first_contacts(session)
            by_channel = Counter(_channel_of(session, contact) for contact in first.values())
            assert board.total.new_consumers == len(first) > 0
            for channel in (Channel.CODE, Channel.FISSION, Channel.COURIER):
                assert channels[channel].new_consumers == by_channel[channel], channel
            assert by_channel[Channel.CODE] > 0
            assert by_channel[Channel.FISSION] > 0
            tiers = [
                regions.tier_of(session, contact.district_code or contact.city_code)
                for contact in first.values()
            ]
            assert board.tiers is not None
            assert board.tiers.total == len(first)
            assert board.tiers.lower == sum(tier in LOWER for tier in tiers)
            assert None not in tiers  # every market contact carries the person's place
            # The same share straight from the market's arrays, and ~70% as the seed says.
            tier_of_person = world.market.tier_of_consumers()
            people = [world.people.index_of_consumer[consumer] for consumer in first]
            expected = sum(TIERS[int(tier_of_person[person])] in LOWER for person in people)
            assert board.tiers.lower == expected
            assert 0.55 <= board.tiers.lower / board.tiers.total <= 0.9

            # --- commission cost per merchant, from the ledger -------------------------------
            cost: Counter[int] = Counter()
            for line_id, merchant_id, amount in session.execute(
                select(OrderLine.id, OrderLine.merchant_id, LedgerEntry.amount_fen)
                .join(
                    LedgerTransaction,
                    LedgerTransaction.correlation_key
                    == literal("order_line:", String) + cast(OrderLine.id, String),
                )
                .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
                .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
                .where(
                    LedgerAccount.kind == LedgerAccountKind.MERCHANT_PAYABLE,
                    LedgerTransaction.kind.like("commission.%"),
                )
            ).all():
                assert line_id
                cost[merchant_id] -= amount
            assert {row.merchant_id: row.commission_fen for row in board.merchants} == {
                row.merchant_id: cost[row.merchant_id] for row in board.merchants
            }
            assert board.commission_fen == sum(cost.values()) > 0

            # --- the ledger balances and every promoter reconciles ---------------------------
            assert ledger.trial_balance(session) == 0
            assert ledger.check_balanced(session) == []
            promoter_ids = list(session.scalars(select(Promoter.id).order_by(Promoter.id)))
            assert promoter_ids == state.promoter_ids
            for promoter_id in promoter_ids:
                reconciled = withdrawals.reconcile_promoter(session, admin, promoter_id)
                assert [line.key for line in reconciled if not line.matches] == [], promoter_id
                assert withdrawals.paid_out_covered(session, promoter_id)
            assert stats["settled"] > 0
            assert stats["withdrawals"] > 0

            # --- no account over its caps -----------------------------------------------------
            for account in session.scalars(select(OperatorAccount)):
                confirmed = session.scalar(
                    select(func.count())
                    .select_from(Contact)
                    .where(
                        Contact.account_id == account.id, Contact.state == ContactState.CONFIRMED
                    )
                )
                assert (confirmed or 0) <= account.friends_used <= account.max_friends
                per_day = Counter(
                    to_shanghai(added).date()
                    for added in session.scalars(
                        select(Contact.added_at).where(Contact.account_id == account.id)
                    )
                )
                cap = (
                    account.active_adds_per_day
                    if account.kind == AccountKind.COURIER
                    else account.passive_adds_per_day
                )
                assert max(per_day.values(), default=0) <= cap, account.name

            # --- opted-out contacts never get marketing afterwards ---------------------------
            assert state.opted_out, "the market's people opt out"
            for contact_id, at in state.opted_out.items():
                later = session.scalar(
                    select(func.count())
                    .select_from(ChannelMessage)
                    .where(
                        ChannelMessage.contact_id == contact_id,
                        ChannelMessage.direction == "out",
                        ChannelMessage.sent_at > at,
                    )
                )
                assert later == 0, contact_id
        # A broadcast to every market friend after the run skips them all.
        moment = world.day_start(DAYS) + timedelta(hours=10)
        with unit_of_work() as session, travel_to(moment):
            everyone = segments.create_segment(
                session,
                admin,
                SegmentIn(
                    name="全部市场好友",
                    rule=segments.parse_rule(
                        {"conditions": [{"kind": "source", "source_kinds": ["code", "courier"]}]}
                    ),
                ),
            )
            audience = AudienceIn(kind="segment", segment_id=everyone.id)
            final = outreach.create_broadcast(
                session,
                admin,
                BroadcastIn(name="回访", audience=audience, text="【广告】回访，回复 TD 退订。"),
            )
            outreach.start(session, admin, final.id)
        with unit_of_work() as session:
            send_broadcast(session, final.id, moment, moment + timedelta(hours=2))
            sent = set(
                session.scalars(
                    select(BroadcastSend.contact_id).where(
                        BroadcastSend.broadcast_id == final.id,
                        BroadcastSend.status == SendStatus.SENT,
                    )
                )
            )
        assert sent, "the other friends get it"
        assert not sent & set(state.opted_out)

        # The demo does not simulate a second time on a database that has the market.
        assert run_market_demo(admin, size=CONFIG.consumers) is None


class TestDemoMarket:
    def test_the_demo_forecasts_its_campaign_then_runs_it(
        self, database: Database, queue: Any, settings: Any
    ) -> None:
        admin = _admin()
        outcome = run_market_demo(admin, size=400, seed=3)
        assert outcome is not None
        assert len(outcome.highlights) == 5
        with database.sessions() as session:
            forecast = session.scalars(select(CampaignForecast)).one()
            campaign = session.get_one(Campaign, forecast.campaign_id)
            assert campaign.name == CAMPAIGN_NAME
            # Made before the run: on day 0, before the market's first hour.
            assert forecast.created_at <= outcome.world.day_start(0) + timedelta(hours=9)
            comparison = forecasts.forecast_vs_actual(session, admin, forecast.id)
            assert comparison.has_data
            actual = {row.metric: row.actual for row in comparison.totals}
            assert actual["scans"] == outcome.world.stats["campaign.scans"] > 0
            assert actual["adds"] == outcome.world.stats["campaign.adds"]
            # The campaign's friends tell where they live too (all but the last day's).
            board = dashboard.sales(
                session,
                admin,
                dashboard.filters(
                    admin,
                    shanghai_day(outcome.world.start).isoformat(),
                    (shanghai_day(outcome.world.start) + timedelta(days=DAYS - 1)).isoformat(),
                ),
            )
            assert board.tiers is not None
            unknown = board.tiers.total - board.tiers.known
            assert unknown <= outcome.world.stats["campaign.adds"] // 2
        assert run_market_demo(admin, size=400, seed=3) is None

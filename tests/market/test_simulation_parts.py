"""The pieces the market simulation added to other domains, and its pure helpers."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

from siyu.channels.simulator.backend import remove_friend
from siyu.consumers.service import ConsumerIdentity
from siyu.db import Database
from siyu.demo.market import market_start
from siyu.market.actors import process_events
from siyu.market.generator import MarketConfig, generate
from siyu.market.setup import build_graph, promoter_phone
from siyu.market.simulation import phone_of
from siyu.models import Contact, ContactState, RoutingStrategy
from siyu.pool import rules, service
from siyu.pool.rules import AccountSnapshot
from siyu.pool.service import RegionCodeInvalid
from tests.pool.conftest import make_account, make_code


def _contact(session: Session) -> Contact:
    account = make_account(session)
    code = make_code(session, rule={"account_ids": [account.id]})
    result = service.scan(session, code.code, ConsumerIdentity(phone=phone_of(1)))
    assert result.contact is not None
    return result.contact


class TestSetContactRegion:
    def test_records_province_city_and_district(self, database: Database) -> None:
        with database.sessions() as session:
            contact = _contact(session)
            service.set_contact_region(session, None, contact.id, "360702")  # 赣州 章贡区
            assert (contact.province_code, contact.city_code, contact.district_code) == (
                "360000",
                "360700",
                "360702",
            )
            service.set_contact_region(session, None, contact.id, "110105")  # 北京 朝阳区
            assert (contact.province_code, contact.city_code, contact.district_code) == (
                "110000",
                "110100",
                "110105",
            )

    def test_a_city_without_districts_has_no_district(self, database: Database) -> None:
        with database.sessions() as session:
            contact = _contact(session)
            service.set_contact_region(session, None, contact.id, "441900")  # 东莞
            assert (contact.province_code, contact.city_code, contact.district_code) == (
                "440000",
                "441900",
                "",
            )

    @pytest.mark.parametrize("code", ["", "12345", "999999", "abcdef"])
    def test_refuses_an_unknown_code_and_changes_nothing(
        self, database: Database, code: str
    ) -> None:
        with database.sessions() as session:
            contact = _contact(session)
            service.set_contact_region(session, None, contact.id, "360702")
            with pytest.raises(RegionCodeInvalid):
                service.set_contact_region(session, None, contact.id, code)
            session.refresh(contact)
            assert contact.district_code == "360702"


class TestPersonRemovesFriend:
    def test_the_event_removes_the_contact_once(self, database: Database, queue: Any) -> None:
        with database.sessions() as session:
            contact = _contact(session)
            service.announce_pending(session, contact.id)
            process_events(session)
            if contact.state != ContactState.CONFIRMED:
                pytest.skip("the simulator did not accept this add (seeded)")
            remove_friend(session, contact, "k")
            remove_friend(session, contact, "k")  # the same delivery twice
            process_events(session)
            assert contact.state == ContactState.REMOVED
            assert contact.removed_at is not None


class TestRoutingDraws:
    def test_least_loaded_order_does_not_depend_on_the_input_order(self) -> None:
        accounts = [AccountSnapshot(id=index, friends_used=0) for index in range(1, 9)]
        orders = set()
        for shuffle in range(5):
            shuffled = accounts[:]
            random.Random(shuffle).shuffle(shuffled)
            orders.add(
                tuple(
                    rules.order_candidates(shuffled, RoutingStrategy.LEAST_LOADED, random.Random(3))
                )
            )
        assert len(orders) == 1

    def test_weighted_order_does_not_depend_on_the_input_order(self) -> None:
        accounts = [AccountSnapshot(id=index, weight=index) for index in range(1, 9)]
        orders = {
            tuple(
                rules.order_candidates(
                    list(reversed(accounts)) if flip else accounts,
                    RoutingStrategy.WEIGHTED,
                    random.Random(3),
                )
            )
            for flip in (False, True)
        }
        assert len(orders) == 1

    def test_least_loaded_still_prefers_the_emptier_account(self) -> None:
        accounts = [
            AccountSnapshot(id=1, friends_used=900, max_friends=1000),
            AccountSnapshot(id=2, friends_used=10, max_friends=1000),
        ]
        ordered = rules.order_candidates(accounts, RoutingStrategy.LEAST_LOADED, random.Random(0))
        assert ordered == [2, 1]


class TestHelpers:
    def test_graph_lists_every_friend_both_ways(self) -> None:
        market = generate(MarketConfig(consumers=300, seed=4))
        offsets, neighbours = build_graph(market.consumers, market.edges)
        assert offsets[-1] == 2 * len(market.edges)
        for low, high in market.edges[:50].tolist():
            assert high in neighbours[offsets[low] : offsets[low + 1]]
            assert low in neighbours[offsets[high] : offsets[high + 1]]
        degree = np.diff(offsets)
        assert (degree == market.degree()).all()

    def test_empty_graph(self) -> None:
        offsets, neighbours = build_graph(3, np.empty((0, 2), dtype=np.int64))
        assert offsets.tolist() == [0, 0, 0, 0]
        assert neighbours.size == 0

    def test_market_starts_at_shanghai_midnight_two_weeks_back(self) -> None:
        now = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)  # 2026-12-02 04:30 in Shanghai
        assert market_start(now) == datetime(2026, 11, 17, 16, 0, tzinfo=UTC)
        assert market_start(now, days=1) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)

    def test_promoter_phones_never_clash_with_consumers(self) -> None:
        from siyu.market.generator import PromoterKind

        assert promoter_phone(PromoterKind.KOC, 3, 42) == phone_of(42) == "19000000042"
        assert promoter_phone(PromoterKind.STAFF, 3, -1) == "17000000003"
        assert promoter_phone(PromoterKind.COURIER, 12, -1) == "17000000012"

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.consumers.service import ConsumerIdentity
from siyu.db import Database
from siyu.errors import NotFound
from siyu.jobs import JobQueue
from siyu.kit.time import travel_to
from siyu.models import (
    AccountStatus,
    ChannelCodeStatus,
    ChannelScan,
    Contact,
    ContactState,
    OperatorAccount,
    RoutingStrategy,
    ScanOutcome,
)
from siyu.pool import service
from tests.conftest import count_rows
from tests.pool.conftest import make_account, make_code

# 10:30 Asia/Shanghai.
MORNING = datetime(2026, 11, 11, 2, 30, tzinfo=UTC)


def who(number: int) -> ConsumerIdentity:
    return ConsumerIdentity(union_id=f"union-{number}")


class TestScan:
    def test_routes_to_least_loaded_and_holds_seat(self, database: Database) -> None:
        with database.sessions() as session, travel_to(MORNING):
            busy = make_account(session, "忙", max_friends=100)
            idle = make_account(session, "闲", max_friends=100)
            busy.friends_used = 50
            code = make_code(session, rule={"account_ids": [busy.id, idle.id]})
            result = service.scan(session, code.code, who(1))
            session.commit()
            assert result.outcome == ScanOutcome.ROUTED
            assert result.account is not None
            assert result.account.id == idle.id
            session.refresh(idle)
            assert (idle.friends_used, idle.passive_adds_today) == (1, 1)
            assert idle.adds_day == datetime(2026, 11, 11).date()
            assert result.contact is not None
            assert result.contact.state == ContactState.PENDING
            assert result.contact.source_id == code.id

    def test_second_scan_same_person_is_already_contact(self, database: Database) -> None:
        with database.sessions() as session:
            account = make_account(session)
            code = make_code(session, rule={"account_ids": [account.id]})
            first = service.scan(session, code.code, who(1))
            second = service.scan(session, code.code, who(1))
            session.commit()
            assert second.outcome == ScanOutcome.ALREADY_CONTACT
            assert second.contact is not None
            assert first.contact is not None
            assert second.contact.id == first.contact.id
            session.refresh(account)
            assert account.friends_used == 1

    def test_full_then_spare_then_full_page(self, database: Database) -> None:
        with database.sessions() as session:
            main = make_account(session, "主", max_friends=1)
            spare = make_account(session, "备", max_friends=1)
            code = make_code(session, rule={"account_ids": [main.id]}, spare_account_ids=[spare.id])
            outcomes = [service.scan(session, code.code, who(n)).outcome for n in range(3)]
            session.commit()
            assert outcomes == [ScanOutcome.ROUTED, ScanOutcome.SPARE, ScanOutcome.FULL]
            scans = session.scalars(select(ChannelScan).order_by(ChannelScan.id)).all()
            assert [s.account_id for s in scans] == [main.id, spare.id, None]
            assert scans[2].reason == "all_full"

    def test_daily_cap_and_new_day(self, database: Database) -> None:
        with database.sessions() as session:
            account = make_account(session, passive_adds_per_day=2)
            code = make_code(session, rule={"account_ids": [account.id]})
            with travel_to(MORNING):
                outcomes = [service.scan(session, code.code, who(n)).outcome for n in range(3)]
            assert outcomes == [ScanOutcome.ROUTED, ScanOutcome.ROUTED, ScanOutcome.FULL]
            with travel_to(datetime(2026, 11, 12, 2, 0, tzinfo=UTC)):
                assert service.scan(session, code.code, who(9)).outcome == ScanOutcome.ROUTED
            session.commit()
            session.refresh(account)
            assert (account.friends_used, account.passive_adds_today) == (3, 1)

    def test_status_and_health_excluded(self, database: Database) -> None:
        with database.sessions() as session:
            resting = make_account(session, "休")
            sick = make_account(session, "病")
            service.change_status(session, None, resting.id, AccountStatus.RESTING, "养号")
            sick.recent_failures = 5
            code = make_code(session, rule={"account_ids": [resting.id, sick.id]})
            result = service.scan(session, code.code, who(1))
            assert result.outcome == ScanOutcome.FULL
            assert result.scan.reason == "all_full"

    def test_outside_working_hours(self, database: Database) -> None:
        with database.sessions() as session, travel_to(MORNING):
            account = make_account(session, working_from_minute=20 * 60, working_until_minute=120)
            code = make_code(session, rule={"account_ids": [account.id]})
            session.commit()
            assert service.scan(session, code.code, who(1)).outcome == ScanOutcome.FULL
        with database.sessions() as session, travel_to(datetime(2026, 11, 11, 14, 0, tzinfo=UTC)):
            assert service.scan(session, code.code, who(1)).outcome == ScanOutcome.ROUTED

    def test_round_robin(self, database: Database) -> None:
        with database.sessions() as session:
            ids = [make_account(session, f"号{i}").id for i in range(3)]
            code = make_code(
                session, rule={"account_ids": ids}, strategy=RoutingStrategy.ROUND_ROBIN
            )
            chosen = []
            for n in range(4):
                result = service.scan(session, code.code, who(n))
                assert result.account is not None
                chosen.append(result.account.id)
                session.refresh(code)
            assert chosen == [ids[0], ids[1], ids[2], ids[0]]

    def test_territory_and_product_line(self, database: Database) -> None:
        with database.sessions() as session:
            make_account(session, "上海", city_code="310100", product_lines=["箱包"])
            beijing_food = make_account(
                session, "北京生鲜", city_code="110100", product_lines=["生鲜"]
            )
            beijing = make_account(session, "北京", city_code="110100", product_lines=["箱包"])
            code = make_code(session, rule={"city_codes": ["110100"], "product_lines": ["箱包"]})
            result = service.scan(session, code.code, who(1))
            assert result.account is not None
            assert result.account.id == beijing.id
            assert beijing_food.friends_used == 0

    def test_closed_code(self, database: Database) -> None:
        with database.sessions() as session:
            account = make_account(session)
            code = make_code(session, rule={"account_ids": [account.id]})
            service.set_code_status(session, None, code.id, ChannelCodeStatus.PAUSED)
            result = service.scan(session, code.code, who(1))
            assert (result.outcome, result.scan.reason) == (ScanOutcome.CLOSED, "code_paused")
            assert session.scalar(select(func.count()).select_from(Contact)) == 0

    def test_unknown_code(self, database: Database) -> None:
        with database.sessions() as session, pytest.raises(NotFound):
            service.scan(session, "nope", who(1))


class TestBadInput:
    def test_code_with_deleted_account_refused_at_creation(self, database: Database) -> None:
        with database.sessions() as session:
            account = make_account(session)
            service.delete_account(session, None, account.id)
            with pytest.raises(service.CodeAccountsMissing):
                make_code(session, rule={"account_ids": [account.id]})

    def test_account_deleted_after_code_is_skipped(self, database: Database) -> None:
        with database.sessions() as session:
            gone = make_account(session, "删")
            kept = make_account(session, "留")
            code = make_code(session, rule={"account_ids": [gone.id, kept.id]})
            service.delete_account(session, None, gone.id)
            results = [service.scan(session, code.code, who(n)) for n in range(3)]
            assert {r.account.id for r in results if r.account} == {kept.id}

    def test_rule_without_candidates_is_full_and_logged(
        self, database: Database, caplog: pytest.LogCaptureFixture
    ) -> None:
        with database.sessions() as session:
            make_account(session, city_code="310100")
            code = make_code(session, rule={"city_codes": ["110100"]})
            result = service.scan(session, code.code, who(1))
            assert (result.outcome, result.scan.reason) == (ScanOutcome.FULL, "no_candidates")
            assert "no candidate account" in caplog.text

    def test_cap_below_usage_refused(self, database: Database) -> None:
        from siyu.pool.schemas import AccountUpdate

        with database.sessions() as session:
            account = make_account(session)
            code = make_code(session, rule={"account_ids": [account.id]})
            for n in range(3):
                service.scan(session, code.code, who(n))
            with pytest.raises(service.CapBelowUsage):
                service.update_account(session, None, account.id, AccountUpdate(max_friends=2))
            with pytest.raises(service.CapBelowUsage):
                service.update_account(
                    session, None, account.id, AccountUpdate(passive_adds_per_day=2)
                )
            session.refresh(account)
            assert (account.max_friends, account.passive_adds_per_day) == (10_000, 200)
            updated = service.update_account(
                session, None, account.id, AccountUpdate(max_friends=3)
            )
            assert updated.max_friends == 3

    def test_cap_above_platform_limit_refused(self, database: Database) -> None:
        with database.sessions() as session, pytest.raises(service.CapInvalid):
            make_account(session, max_friends=10_001)

    @pytest.mark.parametrize("state", ["'; drop table", "x" * 300, "中文", "unknownstate"])
    def test_malformed_state_routes_unattributed(
        self, database: Database, state: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger=service.logger.name)
        with database.sessions() as session:
            account = make_account(session)
            code = make_code(session, rule={"account_ids": [account.id]})
            result = service.scan(session, code.code, who(1), state_raw=state)
            assert result.outcome == ScanOutcome.ROUTED
            assert result.scan.state_valid is False
            assert result.scan.referrer_promoter_id is None
            assert result.contact is not None
            assert result.contact.referrer_consumer_id is None
            assert "unusable state" in caplog.text


class TestPersonalCodes:
    def test_state_attributes_add(self, database: Database) -> None:
        with database.sessions() as session:
            account = make_account(session)
            code = make_code(session, rule={"account_ids": [account.id]})
            first = service.scan(session, code.code, who(1))
            assert first.contact is not None
            personal = service.create_personal_code(
                session, None, code.id, referrer_consumer_id=first.contact.consumer_id
            )
            assert personal.state is not None
            by_state = service.scan(session, code.code, who(2), state_raw=personal.state)
            by_path = service.scan(session, personal.code, who(3))
            for result in (by_state, by_path):
                assert result.contact is not None
                assert result.contact.referrer_consumer_id == first.contact.consumer_id
                assert result.scan.personal_code_id == personal.id
                assert result.contact.source_id == code.id

    def test_state_of_another_code_is_ignored(self, database: Database) -> None:
        with database.sessions() as session:
            account = make_account(session)
            one = make_code(session, rule={"account_ids": [account.id]})
            other = make_code(session, rule={"account_ids": [account.id]})
            seed = service.scan(session, one.code, who(1))
            assert seed.contact is not None
            personal = service.create_personal_code(
                session, None, other.id, referrer_consumer_id=seed.contact.consumer_id
            )
            result = service.scan(session, one.code, who(2), state_raw=personal.state)
            assert result.scan.state_valid is False
            assert result.scan.personal_code_id is None

    def test_referrer_required(self, database: Database) -> None:
        with database.sessions() as session:
            code = make_code(session)
            with pytest.raises(service.ReferrerRequired):
                service.create_personal_code(session, None, code.id)


def _scan_many(database: Database, code: str, people: range, workers: int) -> list[ScanOutcome]:
    barrier = threading.Barrier(workers)
    lock = threading.Lock()
    outcomes: list[ScanOutcome] = []
    chunks = [list(people)[index::workers] for index in range(workers)]

    def run(chunk: list[int]) -> None:
        barrier.wait()
        for number in chunk:
            for _attempt in range(20):
                try:
                    with database.sessions() as session:
                        result = service.scan(session, code, who(number))
                        outcome = result.outcome
                        session.commit()
                    break
                except Exception as error:  # deadlock/serialisation retry, like a job would
                    if "deadlock" not in str(error).lower() and "locked" not in str(error).lower():
                        raise
            with lock:
                outcomes.append(outcome)

    with ThreadPoolExecutor(max_workers=workers) as executor:
        list(executor.map(run, chunks))
    return outcomes


class TestConcurrency:
    def test_concurrent_scans_never_overfill(self, database: Database, fleet: Any) -> None:
        ids = fleet(5, max_friends=7, passive_adds_per_day=5)
        with database.sessions() as session:
            # Two accounts already near their friend cap, one near its daily cap.
            session.get_one(OperatorAccount, ids[0]).friends_used = 6
            code = make_code(session, rule={"account_ids": ids})
            session.commit()
            code_text = code.code
        outcomes = _scan_many(database, code_text, range(60), workers=12)
        with database.sessions() as session:
            accounts = session.scalars(select(OperatorAccount).order_by(OperatorAccount.id)).all()
            for account in accounts:
                assert account.friends_used <= account.max_friends
                assert account.passive_adds_today <= account.passive_adds_per_day
            routed = outcomes.count(ScanOutcome.ROUTED)
            # Capacity: account 0 has 1 friend seat; the other four 5 adds each.
            assert routed == 1 + 4 * 5
            assert outcomes.count(ScanOutcome.FULL) == 60 - routed
            contacts = session.scalar(select(func.count()).select_from(Contact))
            assert contacts == routed
            assert [a.friends_used for a in accounts] == [7, 5, 5, 5, 5]
        assert count_rows(database, ChannelScan) == 60


class TestJobs:
    def test_simulator_confirms_pending_add(self, database: Database, queue: JobQueue) -> None:
        with database.sessions() as session:
            account = make_account(session)
            code = make_code(
                session, rule={"account_ids": [account.id]}, welcome_script="您好，请问您在哪个区？"
            )
            result = service.scan(session, code.code, who(1))
            session.commit()
            assert result.contact is not None
            contact_id = result.contact.id
        queue.run_pending()
        queue.run_pending()
        with database.sessions() as session:
            contact = session.get_one(Contact, contact_id)
            # simulator_accept_bp 9000 with seed 0: this contact accepts.
            assert contact.state == ContactState.CONFIRMED
            from siyu.models import ChannelMessage

            messages = session.scalars(select(ChannelMessage)).all()
            assert [m.body for m in messages] == [{"text": "您好，请问您在哪个区？"}]

    def test_expire_pending_releases_seat(self, database: Database) -> None:
        with database.sessions() as session:
            account = make_account(session)
            code = make_code(session, rule={"account_ids": [account.id]})
            with travel_to(MORNING):
                service.scan(session, code.code, who(1))
            with travel_to(datetime(2026, 11, 14, 2, 0, tzinfo=UTC)):
                assert service.expire_pending(session) == 1
                assert service.expire_pending(session) == 0
            session.refresh(account)
            assert account.friends_used == 0


class TestDirectAdds:
    def test_active_cap_and_idempotent(self, database: Database) -> None:
        from siyu.models import ContactSourceKind

        with database.sessions() as session:
            account = make_account(session, active_adds_per_day=2)
            added = [
                service.add_contact_directly(
                    session, None, account.id, who(n), ContactSourceKind.COURIER, source_id=n
                )
                for n in (1, 2, 3)
            ]
            assert [c is not None for c in added] == [True, True, False]
            again = service.add_contact_directly(
                session, None, account.id, who(1), ContactSourceKind.COURIER
            )
            assert again is not None
            assert added[0] is not None
            assert again.id == added[0].id
            session.refresh(account)
            assert (account.friends_used, account.active_adds_today) == (2, 2)
            assert account.passive_adds_today == 0

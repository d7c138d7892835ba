"""Settlement: set-based (statement count independent of row count), idempotent, balanced."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from siyu.commissions import service
from siyu.commissions.repository import CommissionRepository, promoter_key
from siyu.db import Database
from siyu.ledger import service as ledger
from siyu.ledger.repository import LedgerRepository
from siyu.models import Commission, CommissionState, LedgerAccountKind, LedgerTransaction
from tests.withdrawals.world import PAID_AT, World, balances, build_world, place

RECEIVED_AT = PAID_AT + timedelta(days=1)
DUE = RECEIVED_AT + timedelta(days=7)


@pytest.fixture
def world(database: Database) -> World:
    return build_world(database)


def received_orders(session: Session, world: World, count: int, **options: Any) -> None:
    for number in range(count):
        order = place(session, world, paid_at=PAID_AT + timedelta(hours=number), **options)
        service.on_order_placed(session, order)
        order.received_at = RECEIVED_AT
        service.on_order_received(session, order)


def statements_during(session: Session, work: Any) -> tuple[Any, int]:
    seen: list[str] = []

    def listen(*args: Any) -> None:
        seen.append(str(args[2]))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", listen)
    try:
        result = work()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return result, len(seen)


class TestSettleDue:
    def test_settles_due_pending_to_available(self, session: Session, world: World) -> None:
        received_orders(session, world, 3)
        assert service.settle_due(session, DUE - timedelta(seconds=1)) == 0
        assert service.settle_due(session, DUE) == 6
        money = balances(session, world)
        assert (money["l1_pending"], money["l1_available"]) == (0, 243 * 3)
        assert (money["l2_pending"], money["l2_available"]) == (0, 24 * 3)
        states = set(session.scalars(select(Commission.state)))
        assert states == {CommissionState.SETTLED}
        settled_at = set(session.scalars(select(Commission.settled_at)))
        assert settled_at == {DUE}
        assert ledger.check_balanced(session) == []
        assert ledger.trial_balance(session) == 0

    def test_running_twice_settles_nothing_new(self, session: Session, world: World) -> None:
        received_orders(session, world, 2)
        assert service.settle_due(session, DUE) == 4
        before = session.scalars(select(LedgerTransaction.idempotency_key)).all()
        assert service.settle_due(session, DUE + timedelta(days=1)) == 0
        after = session.scalars(select(LedgerTransaction.idempotency_key)).all()
        assert before == after
        ids = session.scalars(select(Commission.id).order_by(Commission.id)).all()
        assert {f"commission:settle:{i}" for i in ids} <= set(after)
        assert balances(session, world)["l1_available"] == 486

    def test_open_aftersale_blocks_settlement(self, session: Session, world: World) -> None:
        received_orders(session, world, 2)
        first = session.scalars(select(Commission).order_by(Commission.id)).first()
        assert first is not None
        line = CommissionRepository(session).line(first.order_line_id)
        assert line is not None
        line.open_aftersales = 1
        session.flush()
        assert service.settle_due(session, DUE) == 2
        assert balances(session, world)["l1_pending"] == 243
        line.open_aftersales = 0
        session.flush()
        assert service.settle_due(session, DUE) == 2
        assert balances(session, world)["l1_pending"] == 0

    def test_estimated_and_held_are_not_settled(self, session: Session, world: World) -> None:
        order = place(session, world)
        service.on_order_placed(session, order)
        assert service.settle_due(session, DUE + timedelta(days=365)) == 0
        assert balances(session, world)["l1_available"] == 0

    def test_statement_count_does_not_grow_with_rows(self, session: Session, world: World) -> None:
        received_orders(session, world, 1)
        service.settle_due(session, DUE)  # the promoters' accounts now exist
        received_orders(session, world, 2)
        small, small_statements = statements_during(
            session, lambda: service.settle_due(session, DUE)
        )
        received_orders(session, world, 12)
        later = DUE + timedelta(days=1)
        large, large_statements = statements_during(
            session, lambda: service.settle_due(session, later)
        )
        assert (small, large) == (4, 24)
        assert large_statements == small_statements
        assert ledger.check_balanced(session) == []

    def test_missing_accounts_cost_no_extra_statement(self, session: Session, world: World) -> None:
        received_orders(session, world, 2)
        accounts = LedgerRepository(session)
        keys = [
            promoter_key(LedgerAccountKind.PROMOTER_AVAILABLE, promoter_id)
            for promoter_id in (world.l1_id, world.l2_id)
        ]
        assert [accounts.find_account(key) for key in keys] == [None, None]
        first, first_statements = statements_during(
            session, lambda: service.settle_due(session, DUE)
        )
        received_orders(session, world, 3)
        later = DUE + timedelta(days=1)
        second, second_statements = statements_during(
            session, lambda: service.settle_due(session, later)
        )
        assert (first, second) == (4, 6)
        assert first_statements == second_statements
        assert all(accounts.find_account(key) is not None for key in keys)
        money = balances(session, world)
        assert (money["l1_available"], money["l2_available"]) == (243 * 5, 24 * 5)
        assert ledger.check_balanced(session) == []

    def test_committed_settlement_survives_a_new_session(
        self, database: Database, world: World
    ) -> None:
        with database.sessions() as session:
            received_orders(session, world, 1)
            session.commit()
        with database.sessions() as session:
            assert service.settle_due(session, DUE) == 2
            session.commit()
        with database.sessions() as session:
            assert service.settle_due(session, DUE) == 0
            assert balances(session, world)["l1_available"] == 243
            assert ledger.check_balanced(session) == []


class TestDailyJob:
    def test_periodic_job_settles_in_its_own_unit_of_work(
        self, database: Database, world: World
    ) -> None:
        from siyu.commissions import tasks
        from siyu.jobs import registered_jobs

        with database.sessions() as session:
            received_orders(session, world, 1)
            session.commit()
        tasks.settle_due()  # "now" is years after the 2026-06 receipt
        tasks.settle_due()
        spec = registered_jobs()["commissions.settle_due"]
        assert spec.schedule == {"minute": "0", "hour": "17", "day": "*", "day_of_week": "*"}
        with database.sessions() as session:
            assert balances(session, world)["l1_available"] == 243
            assert ledger.check_balanced(session) == []


class TestConcurrentSettlement:
    def test_two_runs_at_once_settle_each_commission_once(
        self, database: Database, world: World
    ) -> None:
        import threading
        from concurrent.futures import ThreadPoolExecutor

        with database.sessions() as session:
            received_orders(session, world, 5)
            service.settle_due(session, DUE - timedelta(days=1))  # creates the accounts
            session.commit()
        barrier = threading.Barrier(2)

        def run(_number: int) -> Any:
            with database.sessions() as session:
                barrier.wait(timeout=30)
                try:
                    count = service.settle_due(session, DUE)
                    session.commit()
                    return count
                except Exception as error:
                    session.rollback()
                    return error

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(run, range(2)))
        assert sorted(results) == [0, 10], results
        with database.sessions() as session:
            assert balances(session, world)["l1_available"] == 243 * 5
            assert ledger.check_balanced(session) == []


class TestDefaults:
    def test_policy_defaults_from_settings(self, settings: Any) -> None:
        assert (settings.l2_share_bp, settings.hold_days) == (1000, 7)
        assert settings.self_purchase_commission is False
        assert settings.withdrawal_minimum_fen == 1000
        policy = service.current_policy()
        assert (policy.platform_take_bp, policy.l2_share_bp, policy.hold_days) == (1000, 1000, 7)
        assert policy.self_purchase_commission is False

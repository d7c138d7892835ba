"""Withdrawals against a real database: floors, replays, review, payouts, statements."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.commissions import service as commissions
from siyu.commissions import statements
from siyu.db import Database
from siyu.errors import PermissionDenied
from siyu.kit.pagination import PageRequest
from siyu.ledger import service as ledger
from siyu.ledger.service import InsufficientBalance
from siyu.models import (
    Commission,
    CommissionState,
    LedgerTransaction,
    Withdrawal,
    WithdrawalStatus,
)
from siyu.withdrawals import payouts, service
from tests.withdrawals.world import (
    PAID_AT,
    World,
    balances,
    build_world,
    place,
    staff,
)

SETTLE_AT = PAID_AT + timedelta(days=30)


@pytest.fixture
def world(database: Database) -> World:
    return build_world(database)


def earn(
    session: Session,
    world: World,
    paid_fen: int = 100_000,
    settle_at: datetime = SETTLE_AT,
    received_at: datetime = PAID_AT + timedelta(days=1),
    **options: Any,
) -> None:
    """One received, settled order: with the defaults L1 gets 4500 fen available."""
    order = place(session, world, paid_fen=paid_fen, **options)
    commissions.on_order_placed(session, order)
    order.received_at = received_at
    commissions.on_order_received(session, order)
    commissions.settle_due(session, settle_at)


class TestRequest:
    def test_moves_available_to_withdrawing(self, session: Session, world: World) -> None:
        earn(session, world)
        withdrawal = service.request_withdrawal(session, world.l1, 3000, "k1")
        assert withdrawal.status == WithdrawalStatus.REQUESTED
        money = balances(session, world)
        assert (money["l1_available"], money["l1_withdrawing"]) == (1500, 3000)

    def test_replay_returns_the_first(self, session: Session, world: World) -> None:
        earn(session, world)
        first = service.request_withdrawal(session, world.l1, 3000, "k1")
        again = service.request_withdrawal(session, world.l1, 3000, "k1")
        assert again.id == first.id
        assert balances(session, world)["l1_available"] == 1500
        with pytest.raises(service.WithdrawalKeyReused):
            service.request_withdrawal(session, world.l1, 2000, "k1")

    def test_below_minimum_is_refused(self, session: Session, world: World) -> None:
        earn(session, world)
        with pytest.raises(service.WithdrawalBelowMinimum):
            service.request_withdrawal(session, world.l1, 999, "k1")
        assert balances(session, world)["l1_available"] == 4500

    def test_more_than_available_is_refused(self, session: Session, world: World) -> None:
        earn(session, world)
        with pytest.raises(InsufficientBalance):
            service.request_withdrawal(session, world.l1, 4501, "k1")
        assert balances(session, world)["l1_withdrawing"] == 0

    def test_pending_and_held_money_is_not_withdrawable(
        self, session: Session, world: World
    ) -> None:
        # 31 orders in an hour: the last one is held; none settled (not received).
        for minute in range(31):
            order = place(
                session, world, paid_fen=100_000, paid_at=PAID_AT + timedelta(minutes=minute)
            )
            commissions.on_order_placed(session, order)
        money = balances(session, world)
        assert money["l1_on_hold"] == 4500
        assert money["l1_pending"] == 4500 * 30
        with pytest.raises(InsufficientBalance):
            service.request_withdrawal(session, world.l1, 1000, "k1")

    def test_only_promoters_request(self, session: Session, admin: Principal) -> None:
        with pytest.raises(PermissionDenied):
            service.request_withdrawal(session, admin, 1000, "k1")


class TestReview:
    def test_approve_assigns_one_bill_and_paid_clears(
        self, session: Session, world: World, admin: Principal
    ) -> None:
        earn(session, world)
        withdrawal = service.request_withdrawal(session, world.l1, 3000, "k1")
        service.approve(session, admin, withdrawal.id)
        bill = withdrawal.bill_no
        assert bill is not None
        assert withdrawal.status == WithdrawalStatus.APPROVED
        service.approve(session, admin, withdrawal.id)
        assert withdrawal.bill_no == bill
        csv_text = service.export_approved_csv(session, admin)
        assert bill in csv_text
        assert "30.00" in csv_text
        service.mark_paid(session, admin, withdrawal.id)
        service.mark_paid(session, admin, withdrawal.id)  # replay
        money = balances(session, world)
        assert (money["l1_withdrawing"], money["clearing"], money["l1_available"]) == (
            0,
            3000,
            1500,
        )
        assert ledger.check_balanced(session) == []

    def test_unknown_outcome_is_resubmitted_with_the_same_bill(
        self, session: Session, world: World, admin: Principal
    ) -> None:
        earn(session, world)
        withdrawal = service.request_withdrawal(session, world.l1, 3000, "k1")
        service.approve(session, admin, withdrawal.id)
        bill = withdrawal.bill_no
        result = service.resubmit(session, admin, withdrawal.id)
        assert result == payouts.PayoutResult(str(bill), payouts.PayoutOutcome.SUBMITTED)
        assert withdrawal.bill_no == bill
        bills = session.scalars(select(Withdrawal.bill_no)).all()
        assert bills == [bill]
        # Money stays in withdrawing: nothing re-credited while the outcome is unknown.
        assert balances(session, world)["l1_withdrawing"] == 3000
        with pytest.raises(service.WithdrawalStatusInvalid):
            service.reject(session, admin, withdrawal.id, "不能再拒绝")

    def test_confirmed_failure_recredits_then_a_new_request_gets_a_new_bill(
        self, session: Session, world: World, admin: Principal
    ) -> None:
        earn(session, world)
        first = service.request_withdrawal(session, world.l1, 3000, "k1")
        service.approve(session, admin, first.id)
        with pytest.raises(service.WithdrawalReasonRequired):
            service.mark_failed(session, admin, first.id, "")
        service.mark_failed(session, admin, first.id, "银行卡户名不符")
        assert first.status == WithdrawalStatus.FAILED
        assert balances(session, world)["l1_available"] == 4500
        with pytest.raises(service.WithdrawalStatusInvalid):
            service.resubmit(session, admin, first.id)
        second = service.request_withdrawal(session, world.l1, 3000, "k2")
        service.approve(session, admin, second.id)
        assert second.bill_no not in (None, first.bill_no)

    def test_reject_recredits(self, session: Session, world: World, admin: Principal) -> None:
        earn(session, world)
        withdrawal = service.request_withdrawal(session, world.l1, 3000, "k1")
        with pytest.raises(PermissionDenied):
            service.reject(session, world.l1, withdrawal.id, "自己拒绝")
        service.reject(session, admin, withdrawal.id, "信息不全")
        assert withdrawal.status == WithdrawalStatus.REJECTED
        money = balances(session, world)
        assert (money["l1_available"], money["l1_withdrawing"]) == (4500, 0)


class TestPaidOut:
    """A confirmed payout marks the settled commissions it covers paid out, oldest first."""

    def _l1_states(self, session: Session, world: World) -> list[tuple[int, CommissionState]]:
        rows = session.execute(
            select(Commission.amount_fen, Commission.state)
            .where(Commission.promoter_id == world.l1_id)
            .order_by(Commission.id)
        ).all()
        return [(int(amount), state) for amount, state in rows]

    def _withdraw_paid(
        self, session: Session, world: World, admin: Principal, amount: int, key: str
    ) -> None:
        withdrawal = service.request_withdrawal(session, world.l1, amount, key)
        service.approve(session, admin, withdrawal.id)
        service.mark_paid(session, admin, withdrawal.id)

    def test_covers_oldest_first_and_only_whole_commissions(
        self, session: Session, world: World, admin: Principal
    ) -> None:
        earn(session, world)
        earn(session, world)
        settled = CommissionState.SETTLED
        paid_out = CommissionState.PAID_OUT
        assert self._l1_states(session, world) == [(4500, settled), (4500, settled)]
        self._withdraw_paid(session, world, admin, 4500, "k1")
        assert self._l1_states(session, world) == [(4500, paid_out), (4500, settled)]
        self._withdraw_paid(session, world, admin, 3000, "k2")
        assert self._l1_states(session, world) == [(4500, paid_out), (4500, settled)]
        self._withdraw_paid(session, world, admin, 1500, "k3")
        assert self._l1_states(session, world) == [(4500, paid_out), (4500, paid_out)]
        assert balances(session, world)["l1_available"] == 0
        assert ledger.check_balanced(session) == []

    def test_approved_failed_and_rejected_payouts_mark_nothing(
        self, session: Session, world: World, admin: Principal
    ) -> None:
        earn(session, world)
        first = service.request_withdrawal(session, world.l1, 4500, "k1")
        service.approve(session, admin, first.id)
        assert self._l1_states(session, world) == [(4500, CommissionState.SETTLED)]
        service.mark_failed(session, admin, first.id, "账户异常")
        second = service.request_withdrawal(session, world.l1, 4500, "k2")
        service.reject(session, admin, second.id, "信息不全")
        assert self._l1_states(session, world) == [(4500, CommissionState.SETTLED)]

    def test_replayed_paid_confirmation_marks_once(
        self, session: Session, world: World, admin: Principal
    ) -> None:
        earn(session, world)
        earn(session, world)
        withdrawal = service.request_withdrawal(session, world.l1, 4500, "k1")
        service.approve(session, admin, withdrawal.id)
        service.mark_paid(session, admin, withdrawal.id)
        service.mark_paid(session, admin, withdrawal.id)
        assert commissions.mark_paid_out(session, world.l1_id, 4500) == 0
        assert [state for _, state in self._l1_states(session, world)] == [
            CommissionState.PAID_OUT,
            CommissionState.SETTLED,
        ]

    def test_upline_commissions_are_not_covered_by_the_downlines_payout(
        self, session: Session, world: World, admin: Principal
    ) -> None:
        earn(session, world)
        self._withdraw_paid(session, world, admin, 4500, "k1")
        upline = session.scalars(
            select(Commission.state).where(Commission.promoter_id == world.l2_id)
        ).all()
        assert upline == [CommissionState.SETTLED]


class TestAccess:
    def test_promoter_sees_only_its_own(
        self, session: Session, world: World, admin: Principal
    ) -> None:
        earn(session, world)
        withdrawal = service.request_withdrawal(session, world.l1, 3000, "k1")
        other = world.l2
        with pytest.raises(service.WithdrawalNotFound):
            service.get_withdrawal(session, other, withdrawal.id)
        assert service.list_withdrawals(session, other, PageRequest()).total == 0
        assert service.list_withdrawals(session, world.l1, PageRequest()).total == 1
        assert service.list_withdrawals(session, admin, PageRequest()).total == 1


def race(database: Database, clients: int, work: Callable[[Session, int], Any]) -> list[Any]:
    barrier = threading.Barrier(clients)

    def client(number: int) -> Any:
        with database.sessions() as session:
            barrier.wait(timeout=30)
            try:
                result = work(session, number)
                session.commit()
                return result
            except Exception as error:
                session.rollback()
                return error

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(client, range(clients)))


class TestConcurrentRequests:
    def test_concurrent_requests_never_overdraw(self, database: Database, world: World) -> None:
        clients = 4 if database.url.startswith("sqlite") else 10
        with database.sessions() as session:
            earn(session, world)  # 4500 available: at most four 1000-fen requests fit
            session.commit()
        results = race(
            database,
            clients,
            lambda session, n: service.request_withdrawal(session, world.l1, 1000, f"race-{n}").id,
        )
        wins = [result for result in results if isinstance(result, int)]
        losses = [result for result in results if not isinstance(result, int)]
        assert len(wins) == min(clients, 4)
        assert all(isinstance(error, InsufficientBalance) for error in losses), losses
        with database.sessions() as session:
            money = balances(session, world)
            assert money["l1_available"] == 4500 - 1000 * len(wins)
            assert money["l1_withdrawing"] == 1000 * len(wins)
            assert money["l1_available"] >= 0
            assert ledger.check_balanced(session) == []

    def test_concurrent_replays_of_one_key_have_one_effect(
        self, database: Database, world: World
    ) -> None:
        clients = 4 if database.url.startswith("sqlite") else 8
        with database.sessions() as session:
            earn(session, world)
            session.commit()
        results = race(
            database,
            clients,
            lambda session, _n: service.request_withdrawal(session, world.l1, 1000, "same").id,
        )
        assert all(isinstance(result, int) for result in results), results
        assert len(set(results)) == 1
        with database.sessions() as session:
            assert balances(session, world)["l1_withdrawing"] == 1000
            count = session.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.kind == "withdrawal.requested")
            )
            assert count == 1


class TestMonthlyStatement:
    def test_statement_reconciles_across_months(
        self, session: Session, world: World, admin: Principal
    ) -> None:
        # Settled at 2026-05-31 16:30 UTC = 2026-06-01 00:30 Shanghai: June, not May.
        may_first = datetime(2026, 5, 1, tzinfo=UTC)
        paid = may_first - timedelta(days=1)
        last_minute_of_may = datetime(2026, 5, 31, 15, 59, tzinfo=UTC)  # 23:59 Shanghai
        june_first = datetime(2026, 5, 31, 16, 30, tzinfo=UTC)  # 00:30 Shanghai, June 1
        earn(session, world, settle_at=last_minute_of_may, received_at=may_first, paid_at=paid)
        earn(session, world, settle_at=june_first, received_at=may_first, paid_at=paid)
        order = place(session, world, paid_fen=100_000)
        commissions.on_order_placed(session, order)
        order.received_at = PAID_AT
        commissions.on_order_received(session, order)
        commissions.settle_due(session, datetime(2026, 6, 20, tzinfo=UTC))
        order.lines[0].refunded_fen = 40_000
        commissions.on_line_refunded(session, order.lines[0], 40_000, aftersale_id=9)
        service.request_withdrawal(session, world.l1, 2000, "k1")
        # The refund and the withdrawal are posted now (utc_now), in the current month.
        may = statements.monthly_statement(session, admin, world.l1_id, 2026, 5)
        june = statements.monthly_statement(session, admin, world.l1_id, 2026, 6)
        assert (may.opening_fen, may.accrued_fen, may.closing_fen) == (0, 4500, 4500)
        assert (june.opening_fen, june.accrued_fen, june.closing_fen) == (4500, 9000, 13500)
        now = datetime.now(UTC)
        current = statements.monthly_statement(session, world.l1, world.l1_id, now.year, now.month)
        assert current.reversed_fen == -1800  # 4500 → 2700 on the remaining 60 000 fen
        assert current.withdrawn_fen == -2000
        for statement in (may, june, current):
            assert statement.reconciles
        assert current.closing_fen == balances(session, world)["l1_available"] == 9700

    def test_other_promoters_statement_is_not_found(self, session: Session, world: World) -> None:
        with pytest.raises(ledger.LedgerAccountNotFound):
            statements.monthly_statement(session, world.l2, world.l1_id, 2026, 6)


class TestReconciliation:
    def _lines(self, session: Session, world: World) -> dict[str, tuple[int, int, bool]]:
        lines = service.reconcile_promoter(session, staff(), world.l1_id)
        return {line.key: (line.ledger_fen, line.records_fen, line.matches) for line in lines}

    def test_every_account_reconciles_through_the_whole_loop(
        self, session: Session, world: World, admin: Principal
    ) -> None:
        earn(session, world)  # 4500 available
        earn(session, world)  # 4500 available
        held = place(session, world, paid_fen=5400)
        commissions.on_order_placed(session, held)  # 243 pending for L1
        first = service.request_withdrawal(session, world.l1, 4500, "k1")
        service.approve(session, admin, first.id)
        service.mark_paid(session, admin, first.id)
        service.request_withdrawal(session, world.l1, 2000, "k2")  # still withdrawing
        assert self._lines(session, world) == {
            "pending": (243, 243, True),
            "on_hold": (0, 0, True),
            "available": (2500, 2500, True),
            "withdrawing": (2000, 2000, True),
            "paid": (4500, 4500, True),
        }
        assert service.paid_out_covered(session, world.l1_id) is True

    def test_a_record_changed_behind_the_ledgers_back_shows_the_difference(
        self, session: Session, world: World
    ) -> None:
        order = place(session, world, paid_fen=5400)
        commissions.on_order_placed(session, order)
        [row] = session.scalars(
            select(Commission).where(Commission.promoter_id == world.l1_id)
        ).all()
        row.amount_fen += 1  # a bug elsewhere: the record no longer matches its postings
        session.flush()
        assert self._lines(session, world)["pending"] == (243, 244, False)

    def test_a_promoter_reconciles_only_itself(self, session: Session, world: World) -> None:
        assert len(service.reconcile_promoter(session, world.l1, world.l1_id)) == 5
        with pytest.raises(PermissionDenied):
            service.reconcile_promoter(session, world.l1, world.l2_id)

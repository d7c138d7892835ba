"""Commission hooks against a real database: records, ledger movements to the 分, replays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.auth.principal import Principal
from siyu.commissions import service
from siyu.db import Database
from siyu.ledger import service as ledger
from siyu.models import (
    AuditEvent,
    Commission,
    CommissionState,
    FraudHold,
    FraudHoldStatus,
    LedgerTransaction,
    Order,
)
from tests.withdrawals.world import PAID_AT, World, balances, build_world, place


@pytest.fixture
def world(database: Database) -> World:
    return build_world(database)


def commissions(session: Session, order: Order) -> list[tuple[int, int, CommissionState, int]]:
    rows = session.scalars(
        select(Commission)
        .where(Commission.order_line_id == order.lines[0].id)
        .order_by(Commission.level)
    )
    return [(row.level, row.promoter_id, row.state, row.amount_fen) for row in rows]


def transaction_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(LedgerTransaction)) or 0)


def placed(session: Session, world: World, **options: object) -> Order:
    order = place(session, world, **options)  # type: ignore[arg-type]
    service.on_order_placed(session, order)
    return order


def receive(session: Session, order: Order, days_after_paid: int = 1) -> None:
    order.received_at = PAID_AT + timedelta(days=days_after_paid)
    service.on_order_received(session, order)


class TestPlaced:
    def test_jd_vector_to_the_fen(self, session: Session, world: World) -> None:
        order = placed(session, world)
        assert commissions(session, order) == [
            (1, world.l1_id, CommissionState.ESTIMATED, 243),
            (2, world.l2_id, CommissionState.ESTIMATED, 24),
        ]
        money = balances(session, world)
        assert money["merchant"] == -270
        assert money["l1_pending"] == 243
        assert money["l2_pending"] == 24
        assert money["platform"] == 3
        assert money["l1_available"] == 0
        assert ledger.check_balanced(session) == []

    def test_replay_has_one_effect(self, session: Session, world: World) -> None:
        order = placed(session, world)
        before = transaction_count(session)
        service.on_order_placed(session, order)
        assert transaction_count(session) == before == 1
        assert len(commissions(session, order)) == 2
        assert balances(session, world)["l1_pending"] == 243

    def test_no_l2_keeps_the_take_with_the_platform(self, session: Session, world: World) -> None:
        order = placed(session, world, with_l2=False)
        assert commissions(session, order) == [(1, world.l1_id, CommissionState.ESTIMATED, 243)]
        assert balances(session, world)["platform"] == 27

    def test_unattributed_line_makes_nothing(self, session: Session, world: World) -> None:
        order = placed(session, world, l1=False)
        assert commissions(session, order) == []
        assert transaction_count(session) == 0

    def test_self_purchase_without_flag_makes_nothing(self, session: Session, world: World) -> None:
        order = placed(session, world, self_purchase=True)
        assert commissions(session, order) == []
        assert transaction_count(session) == 0

    def test_self_purchase_with_flag_earns(self, session: Session, world: World) -> None:
        order = placed(session, world, self_purchase=True, self_purchase_commission=True)
        assert commissions(session, order)[0][3] == 243

    def test_fixed_commission_per_unit(self, session: Session, world: World) -> None:
        order = placed(session, world, paid_fen=10000, quantity=2, fixed_fen=500)
        # pool 1000, take 100, L1 900, L2 90, kept 10
        assert [row[3] for row in commissions(session, order)] == [900, 90]
        assert balances(session, world)["platform"] == 10


class TestReceivedAndCancelled:
    def test_received_becomes_pending_with_settles_at(self, session: Session, world: World) -> None:
        order = placed(session, world, hold_days=14)
        receive(session, order)
        rows = session.scalars(select(Commission).order_by(Commission.level)).all()
        assert [row.state for row in rows] == [CommissionState.PENDING] * 2
        expected = PAID_AT + timedelta(days=1 + 14)
        assert all(row.settles_at == expected for row in rows)
        service.on_order_shipped(session, order)
        assert transaction_count(session) == 1

    def test_cancel_reverses_the_estimate(self, session: Session, world: World) -> None:
        order = placed(session, world)
        service.on_order_cancelled(session, order)
        service.on_order_cancelled(session, order)  # replay
        assert [row[2] for row in commissions(session, order)] == [CommissionState.INVALID] * 2
        assert all(value == 0 for value in balances(session, world).values())
        assert transaction_count(session) == 2
        assert ledger.check_balanced(session) == []


class TestRefunds:
    def test_partial_refund_before_settlement_recomputes(
        self, session: Session, world: World
    ) -> None:
        order = placed(session, world)
        line = order.lines[0]
        line.refunded_fen = 2000
        service.on_line_refunded(session, line, 2000, aftersale_id=1)
        service.on_line_refunded(session, line, 2000, aftersale_id=1)  # replay
        # base 3400: pool 170, take 17, L1 153, L2 15, kept 2
        assert [row[3] for row in commissions(session, order)] == [153, 15]
        assert [row[2] for row in commissions(session, order)] == [CommissionState.ESTIMATED] * 2
        money = balances(session, world)
        assert (money["merchant"], money["l1_pending"], money["l2_pending"]) == (-170, 153, 15)
        assert money["platform"] == 2
        assert transaction_count(session) == 2

    def test_full_refund_before_settlement_invalidates(
        self, session: Session, world: World
    ) -> None:
        order = placed(session, world)
        receive(session, order)
        line = order.lines[0]
        line.refunded_fen = 5400
        service.on_line_refunded(session, line, 5400, aftersale_id=2)
        assert [row[2:] for row in commissions(session, order)] == [
            (CommissionState.INVALID, 0),
            (CommissionState.INVALID, 0),
        ]
        assert all(value == 0 for value in balances(session, world).values())

    def test_refund_after_settlement_reverses_from_available(
        self, session: Session, world: World
    ) -> None:
        order = placed(session, world)
        receive(session, order)
        assert service.settle_due(session, PAID_AT + timedelta(days=30)) == 2
        line = order.lines[0]
        line.refunded_fen = 2000
        service.on_line_refunded(session, line, 2000, aftersale_id=3)
        money = balances(session, world)
        assert (money["l1_available"], money["l2_available"]) == (153, 15)
        assert [row[2] for row in commissions(session, order)] == [CommissionState.SETTLED] * 2
        line.refunded_fen = 5400
        service.on_line_refunded(session, line, 3400, aftersale_id=4)
        assert [row[2:] for row in commissions(session, order)] == [
            (CommissionState.REVERSED, 0),
            (CommissionState.REVERSED, 0),
        ]
        assert all(value == 0 for value in balances(session, world).values())
        assert ledger.check_balanced(session) == []

    def test_reversal_may_take_available_below_zero(self, session: Session, world: World) -> None:
        from siyu.ledger import rules as ledger_rules

        order = placed(session, world, with_l2=False)
        receive(session, order)
        service.settle_due(session, PAID_AT + timedelta(days=30))
        ledger.post(
            session,
            "test.spend",
            "spend:1",
            "test",
            ledger_rules.transfer(
                ledger_rules.promoter_available(world.l1_id),
                ledger_rules.promoter_withdrawing(world.l1_id),
                243,
            ),
        )
        line = order.lines[0]
        line.refunded_fen = 5400
        service.on_line_refunded(session, line, 5400, aftersale_id=5)
        assert balances(session, world)["l1_available"] == -243


class TestFraudHolds:
    def held(self, session: Session, world: World) -> Order:
        # 31 attributed orders within the hour: the 31st goes over velocity_max_orders (30).
        order = None
        for minute in range(31):
            order = placed(session, world, paid_at=PAID_AT + timedelta(minutes=minute))
        assert order is not None
        return order

    def test_velocity_holds_and_money_goes_on_hold(self, session: Session, world: World) -> None:
        order = self.held(session, world)
        assert [row[2] for row in commissions(session, order)] == [CommissionState.ON_HOLD] * 2
        hold = session.scalars(select(FraudHold)).one()
        assert hold.reasons == ["velocity"]
        money = balances(session, world)
        assert (money["l1_on_hold"], money["l2_on_hold"]) == (243, 24)
        assert money["l1_pending"] == 243 * 30
        assert money["l1_available"] == 0

    def test_held_money_never_settles(self, session: Session, world: World) -> None:
        order = self.held(session, world)
        receive(session, order)
        service.settle_due(session, PAID_AT + timedelta(days=60))
        assert balances(session, world)["l1_on_hold"] == 243

    def test_release_moves_to_pending(
        self, session: Session, world: World, admin: Principal
    ) -> None:
        order = self.held(session, world)
        receive(session, order)
        hold = session.scalars(select(FraudHold)).one()
        with pytest.raises(service.DecisionReasonRequired):
            service.release_hold(session, admin, hold.id, " ")
        service.release_hold(session, admin, hold.id, "熟人下单，核实无误")
        assert hold.status == FraudHoldStatus.RELEASED
        assert [row[2] for row in commissions(session, order)] == [CommissionState.PENDING] * 2
        money = balances(session, world)
        assert money["l1_on_hold"] == 0
        assert money["l1_pending"] == 243 * 31
        assert session.scalars(select(AuditEvent.action)).all() == ["fraud_hold.released"]
        with pytest.raises(service.FraudHoldAlreadyDecided):
            service.confirm_fraud(session, admin, hold.id, "again")

    def test_confirm_fraud_returns_money_to_merchant(
        self, session: Session, world: World, admin: Principal
    ) -> None:
        order = self.held(session, world)
        hold = session.scalars(select(FraudHold)).one()
        service.confirm_fraud(session, admin, hold.id, "刷单")
        assert [row[2] for row in commissions(session, order)] == [CommissionState.INVALID] * 2
        money = balances(session, world)
        assert (money["l1_on_hold"], money["l2_on_hold"]) == (0, 0)
        assert money["merchant"] == -270 * 30
        assert ledger.check_balanced(session) == []

"""The whole money loop as a hypothesis state machine, through the real services.

Random sequences of H5 checkouts (multi-line, with coupons) and signed webhook orders attributed
to promoters with, without and with a frozen upline; ship, receive, cancel; after-sales opened,
approved and rejected before and after settlement; settlement runs and auto-confirm jobs on the
simulated clock; fraud holds released and confirmed; withdrawals requested, approved, paid,
failed and rejected; and every externally triggered effect retried with its idempotency key
(webhook replays, a delivery whose transaction crashed, duplicate job runs, repeated decisions,
withdrawal replays). After every step the database must agree with ``tests.money.model``:

- every ledger transaction balances and the ledger sums to zero;
- each account's balance (the service's) equals the sum of its entries and the model's figure;
- no ledger row was modified or deleted (compared with the snapshot of the previous step);
- what each line posted equals the pure split (``commissions.rules``) of the model's snapshot;
- commission records hold the model's amounts and states; held money sits in on_hold only and
  an attempt to withdraw it is refused;
- each retried effect happened once (line nets, withdrawal movements, row counts).

Run longer: ``SIYU_TEST_MONEY_EXAMPLES=200 SIYU_TEST_MONEY_STEPS=80 pytest tests/money``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck
from hypothesis import event as hypothesis_event
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.commissions import rules as commission_rules
from siyu.commissions import service as commissions
from siyu.commissions import tasks as commission_tasks
from siyu.commissions.service import FraudHoldAlreadyDecided
from siyu.config import Settings
from siyu.db import Database
from siyu.kit.time import ensure_aware, travel_to, utc_now
from siyu.ledger import rules as ledger_rules
from siyu.ledger import service as ledger
from siyu.ledger.rules import AccountKey
from siyu.ledger.service import InsufficientBalance
from siyu.links import service as links
from siyu.links.schemas import LinkCreate
from siyu.models import (
    AfterSale,
    AfterSaleStatus,
    Commission,
    CommissionState,
    CouponBatch,
    FraudHold,
    LedgerAccount,
    LedgerAccountKind,
    LedgerEntry,
    LedgerOwnerType,
    LedgerTransaction,
    LinkPosition,
    Order,
    OrderLine,
    OrderStatus,
    TrackedLink,
    Withdrawal,
    WithdrawalStatus,
)
from siyu.orders import rules as order_rules
from siyu.orders import service as orders
from siyu.orders import tasks as order_tasks
from siyu.orders import webhook
from siyu.orders.schemas import DraftLine, OrderDraft
from siyu.withdrawals import service as withdrawals
from tests.money.model import VELOCITY_MAX_ORDERS, LoopModel, OrderModel, WithdrawalModel
from tests.money.world import LoopWorld, build_loop_world

T = TypeVar("T")

EXAMPLES = int(os.environ.get("SIYU_TEST_MONEY_EXAMPLES", "8"))
STEPS = int(os.environ.get("SIYU_TEST_MONEY_STEPS", "40"))
WEBHOOK_SECRET = "money-loop-secret"
CLOCK_STEPS = [
    timedelta(minutes=20),
    timedelta(hours=5),
    timedelta(days=1),
    timedelta(days=8),
    timedelta(days=15),
]


# What the runs exercised (printed at the end with ``pytest -s``), to see that the interesting
# paths (holds, refunds after settlement, paid withdrawals) are reached, not merely allowed.
EVENTS: Counter[str] = Counter()


def event_seen(name: str) -> None:
    hypothesis_event(name)
    EVENTS[name] += 1


@dataclasses.dataclass(frozen=True)
class Placed:
    id: int
    paid_at: Any
    auto_confirm_at: Any
    line_ids: list[int]


def _placed(order: Order) -> Placed:
    return Placed(
        order.id,
        ensure_aware(order.paid_at),
        ensure_aware(order.auto_confirm_at) if order.auto_confirm_at else None,
        [line.id for line in order.lines],
    )


class MoneyLoop(RuleBasedStateMachine):
    def __init__(self, database: Database, settings: Settings) -> None:
        super().__init__()
        self.database = database
        self.settings = settings
        self.clock = ExitStack()
        self.counter = itertools.count(1)
        self.seen_entries: dict[int, tuple[int, int, int]] = {}
        self.seen_transactions: dict[int, tuple[str, str, str]] = {}
        self.seen_accounts: dict[int, tuple[str, str, int]] = {}
        self.platform_baseline: dict[AccountKey, int] = {}
        self.links: dict[tuple[int, int], int] = {}
        self.model: LoopModel

    # --- plumbing -----------------------------------------------------------------------------

    def act(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One unit of work, committed; an error rolls it back (and propagates)."""
        with self.database.sessions() as session:
            result = call(session, *args, **kwargs)
            session.commit()
            return result

    @property
    def world(self) -> LoopWorld:
        return self.model.world

    def teardown(self) -> None:
        self.clock.close()

    def advance(self, delta: timedelta) -> None:
        moment = utc_now() + delta
        self.clock.close()
        self.clock = ExitStack()
        self.clock.enter_context(travel_to(moment))

    @initialize(
        hold_days=st.sampled_from([0, 7, 14]),
        l2_share_bp=st.sampled_from([0, 1000, 2500, 10000]),
        self_purchase_commission=st.booleans(),
        data=st.data(),
    )
    def start(
        self, hold_days: int, l2_share_bp: int, self_purchase_commission: bool, data: st.DataObject
    ) -> None:
        self.settings.hold_days = hold_days  # type: ignore[assignment]
        self.settings.l2_share_bp = l2_share_bp
        self.settings.self_purchase_commission = self_purchase_commission
        self.settings.order_webhook_secret = WEBHOOK_SECRET
        # Earlier examples' worlds share the database: confirm and settle all they left due, far
        # in the future, so that nothing of theirs becomes due during this example.
        with travel_to(utc_now() + timedelta(days=3650)):
            order_tasks.auto_confirm()
            commission_tasks.settle_due()
        self.clock.enter_context(travel_to(utc_now()))
        world = build_loop_world(self.database)
        self.model = LoopModel(world, hold_days, l2_share_bp, self_purchase_commission)
        with self.database.sessions() as session:
            for key in (ledger_rules.platform_revenue(), ledger_rules.payout_clearing()):
                self.platform_baseline[key] = ledger.balance(session, key)
        # A few orders to start from, so that short runs reach settlement and withdrawals too.
        for _ in range(data.draw(st.integers(0, 4), label="seed orders")):
            self.place_h5_order(data)

    def click(self, promoter_id: int, product_id: int) -> str:
        def record(session: Session) -> str:
            link_id = self.links.get((promoter_id, product_id))
            if link_id is None:
                link = links.create_link(
                    session,
                    None,
                    LinkCreate(product_id=product_id, position=LinkPosition.GROUP),
                    promoter_id=promoter_id,
                )
                self.links[(promoter_id, product_id)] = link.id
            else:
                found = session.get(TrackedLink, link_id)
                assert found is not None
                link = found
            return links.record_click(session, link)

        return self.act(record)

    def register_order(
        self,
        placed: Placed,
        phone: str,
        l1: int | None,
        self_buy: bool,
        lines: list[tuple[int, int, int, int]],
        coupon: bool,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Add a placed order to the model; ``lines`` = (product index, quantity, paid, coupon)."""
        held = self.model.held_by_velocity(l1, placed.paid_at)
        self.model.orders[placed.id] = OrderModel(
            placed.id,
            placed.line_ids,
            OrderStatus.PAID,
            placed.paid_at,
            placed.auto_confirm_at,
            coupon,
            body=body,
        )
        for line_id, (index, quantity, paid, coupon_fen) in zip(
            placed.line_ids, lines, strict=True
        ):
            self.model.new_line(
                line_id,
                placed.id,
                self.world.products[index],
                quantity,
                paid,
                coupon_fen,
                l1,
                self_buy,
                held,
            )
        self.model.bind(phone, l1)
        if coupon:
            self.model.coupons_used += 1
        with self.database.sessions() as session:
            holds = dict(
                session.execute(
                    select(FraudHold.order_line_id, FraudHold.id).where(
                        FraudHold.order_line_id.in_(placed.line_ids)
                    )
                ).all()
            )
        expected = {line_id for line_id in placed.line_ids if self.model.lines[line_id].held}
        assert set(holds) == expected
        if holds:
            event_seen("commission held for review")
        for line_id, hold_id in holds.items():
            self.model.lines[line_id].hold_id = hold_id
            self.model.lines[line_id].hold_status = "open"

    # --- placing orders -----------------------------------------------------------------------

    @rule(data=st.data())
    def place_h5_order(self, data: st.DataObject) -> None:
        picks = data.draw(
            st.lists(st.tuples(st.integers(0, 2), st.integers(1, 3)), min_size=1, max_size=3)
        )
        phone = data.draw(st.sampled_from(self.world.buyers))
        clicker = data.draw(st.none() | st.sampled_from(self.world.earners))
        use_coupon = data.draw(st.booleans())
        products = [self.world.products[index] for index, _quantity in picks]
        amounts = [
            p.price_fen * quantity for p, (_i, quantity) in zip(products, picks, strict=True)
        ]
        discounts = [0] * len(picks)
        coupon = self.world.coupon
        token = self.click(clicker, products[0].id) if clicker is not None else None
        draft = OrderDraft(
            lines=tuple(
                DraftLine(product_id=p.id, quantity=q)
                for p, (_i, q) in zip(products, picks, strict=True)
            ),
            phone=phone,
            coupon_batch_id=coupon.id if use_coupon else None,
            click_token=token,
        )
        if use_coupon:
            eligible = [
                amount if product.merchant_id == coupon.merchant_id else 0
                for product, amount in zip(products, amounts, strict=True)
            ]
            if sum(eligible) < coupon.threshold_fen:
                with pytest.raises(orders.CouponNotApplicable):
                    self.act(lambda s: orders.place_order(s, draft))
                return
            discounts = list(
                commission_rules.allocate_coupon(min(coupon.face_fen, sum(eligible)), eligible)
            )
        l1, self_buy = self.model.attribute(phone, clicker)
        placed = self.act(lambda s: _placed(orders.place_order(s, draft)))
        lines = [
            (index, quantity, amount - discount, discount)
            for (index, quantity), amount, discount in zip(picks, amounts, discounts, strict=True)
        ]
        self.register_order(placed, phone, l1, self_buy, lines, use_coupon)

    def deliver(self, session: Session, body: dict[str, Any], *, tamper: bool = False) -> Order:
        raw = json.dumps(body).encode()
        stamp = int(time.time())
        signature = order_rules.sign(WEBHOOK_SECRET, stamp, raw)
        if tamper:
            raw = raw.replace(b'"quantity": ', b'"quantity": 1', 1)
        return webhook.receive(session, raw, signature, stamp)

    @rule(data=st.data(), crash_first=st.booleans())
    def place_webhook_order(self, data: st.DataObject, crash_first: bool) -> None:
        merchant = data.draw(st.sampled_from(self.world.merchants))
        indexes = [i for i, p in enumerate(self.world.products) if p.merchant_id == merchant]
        picks = data.draw(
            st.lists(
                st.tuples(st.sampled_from(indexes), st.integers(1, 3), st.integers(0, 30000)),
                min_size=1,
                max_size=2,
            )
        )
        phone = data.draw(st.sampled_from(self.world.buyers))
        clicker = data.draw(st.none() | st.sampled_from(self.world.earners))
        token = (
            self.click(clicker, self.world.products[picks[0][0]].id)
            if clicker is not None
            else None
        )
        body: dict[str, Any] = {
            "order_id": f"JD-{self.world.number}-{next(self.counter)}",
            "merchant_id": merchant,
            "buyer": {"phone": phone},
            "lines": [
                {
                    "line_id": str(number),
                    "product_id": self.world.products[index].id,
                    "quantity": quantity,
                    "unit_price_fen": price,
                }
                for number, (index, quantity, price) in enumerate(picks, start=1)
            ],
            "freight_fen": data.draw(st.sampled_from([0, 600])),
            "click_token": token,
        }
        if crash_first:
            # The first delivery dies before its commit: nothing of it may remain.
            with self.database.sessions() as session:
                self.deliver(session, body)
                session.rollback()
        l1, self_buy = self.model.attribute(phone, clicker)
        placed = self.act(lambda s: _placed(self.deliver(s, body)))
        lines = [(index, quantity, quantity * price, 0) for index, quantity, price in picks]
        self.register_order(placed, phone, l1, self_buy, lines, coupon=False, body=body)

    def webhook_orders(self) -> list[int]:
        return sorted(o.id for o in self.model.orders.values() if o.body is not None)

    @precondition(lambda self: bool(self.webhook_orders()))
    @rule(data=st.data())
    def replay_webhook(self, data: st.DataObject) -> None:
        order = self.model.orders[data.draw(st.sampled_from(self.webhook_orders()))]
        assert order.body is not None
        replayed = self.act(lambda s: self.deliver(s, order.body or {}).id)
        assert replayed == order.id
        with pytest.raises(order_rules.WebhookSignatureInvalid):
            self.act(lambda s: self.deliver(s, order.body or {}, tamper=True))

    # --- lifecycle ----------------------------------------------------------------------------

    def order_ids(self) -> list[int]:
        return sorted(self.model.orders)

    @precondition(lambda self: bool(self.model.orders))
    @rule(
        data=st.data(),
        action=st.sampled_from(["ship", "confirm", "confirm", "cancel"]),
        any_order=st.integers(0, 3),
    )
    def move_order(self, data: st.DataObject, action: str, any_order: int) -> None:
        open_ones = [
            order_id
            for order_id in self.order_ids()
            if self.model.orders[order_id].status in (OrderStatus.PAID, OrderStatus.SHIPPED)
        ]
        # Mostly an order the action can apply to; sometimes any order (the refusals).
        candidates = open_ones if open_ones and any_order else self.order_ids()
        order = self.model.orders[data.draw(st.sampled_from(candidates))]
        allowed = {
            "ship": order.status == OrderStatus.PAID,
            "confirm": order.status in (OrderStatus.PAID, OrderStatus.SHIPPED),
            "cancel": order.status == OrderStatus.PAID,
        }[action]
        call = {
            "ship": orders.ship_order,
            "confirm": orders.confirm_receipt,
            "cancel": orders.cancel_order,
        }[action]
        admin = self.world.admin
        if not allowed:
            event_seen(f"order {action} refused")
            with pytest.raises(order_rules.OrderTransitionInvalid):
                self.act(lambda s: call(s, admin, order.id))
            return
        row = self.act(
            lambda s: (
                (found := call(s, admin, order.id)).status,
                found.received_at,
                found.auto_confirm_at,
            )
        )
        status, received_at, auto_confirm_at = row
        event_seen(f"order {action}")
        order.status = status
        order.auto_confirm_at = ensure_aware(auto_confirm_at) if auto_confirm_at else None
        if action == "confirm":
            order.received_at = ensure_aware(received_at)
        if action == "cancel":
            for line_id in order.lines:
                self.model.lines[line_id].void = True
            if order.coupon:
                self.model.coupons_used -= 1
        # A retry of the same command (a double click, a client retry) changes nothing.
        with pytest.raises(order_rules.OrderTransitionInvalid):
            self.act(lambda s: call(s, admin, order.id))

    def auto_confirm_job_twice(self) -> None:
        at = utc_now()
        order_tasks.auto_confirm()
        order_tasks.auto_confirm()  # a duplicate run finds nothing due
        due = [
            o
            for o in self.model.orders.values()
            if o.status in (OrderStatus.PAID, OrderStatus.SHIPPED)
            and o.auto_confirm_at is not None
            and o.auto_confirm_at <= at
        ]
        event_seen(f"auto-confirmed {min(len(due), 2)}+")
        with self.database.sessions() as session:
            for order in due:
                found = session.get(Order, order.id)
                assert found is not None
                assert found.status == OrderStatus.RECEIVED
                assert found.received_at is not None
                order.status = OrderStatus.RECEIVED
                order.received_at = ensure_aware(found.received_at)
                order.auto_confirm_at = None

    @rule(delta=st.sampled_from(CLOCK_STEPS))
    def advance_clock(self, delta: timedelta) -> None:
        self.advance(delta)

    @rule(days=st.sampled_from([1, 8, 15]), data=st.data())
    def close_the_day(self, days: int, data: st.DataObject) -> None:
        """Some buyers confirm receipt, days pass, and the daily jobs run (each twice: a
        duplicate run must change nothing)."""
        for order in list(self.model.orders.values()):
            if order.status in (OrderStatus.PAID, OrderStatus.SHIPPED) and data.draw(
                st.booleans(), label=f"order {order.id} confirmed"
            ):
                received_at = self.act(
                    lambda s, o=order: orders.confirm_receipt(s, self.world.admin, o.id).received_at
                )
                order.status = OrderStatus.RECEIVED
                order.received_at = ensure_aware(received_at)
                order.auto_confirm_at = None
        self.advance(timedelta(days=days))
        self.auto_confirm_job_twice()
        self.settle_then_run_the_job_again()

    # --- after-sales --------------------------------------------------------------------------

    @precondition(lambda self: bool(self.model.lines))
    @rule(data=st.data(), over=st.booleans(), settled_first=st.booleans())
    def request_after_sale(self, data: st.DataObject, over: bool, settled_first: bool) -> None:
        settled = sorted(i for i, line in self.model.lines.items() if line.settled)
        # Half the time a settled line if there is one: refunds after settlement are reversals.
        candidates = settled if settled and settled_first else sorted(self.model.lines)
        line = self.model.lines[data.draw(st.sampled_from(candidates))]
        order = self.model.orders[line.order_id]
        headroom = line.snapshot.paid_fen - line.refunded_fen - sum(line.open_requests.values())
        amount = headroom + 1 if over or headroom < 1 else data.draw(st.integers(1, headroom))
        admin = self.world.admin
        if order.status == OrderStatus.CANCELLED:
            with pytest.raises(order_rules.OrderTransitionInvalid):
                self.act(lambda s: orders.request_after_sale(s, admin, line.id, amount))
            return
        if amount > headroom:
            with pytest.raises(order_rules.AfterSaleAmountInvalid):
                self.act(lambda s: orders.request_after_sale(s, admin, line.id, amount))
            return
        after_sale_id = self.act(lambda s: orders.request_after_sale(s, admin, line.id, amount).id)
        line.open_requests[after_sale_id] = amount
        self.model.after_sales[after_sale_id] = (line.id, amount, "requested")

    def open_after_sales(self) -> list[int]:
        return sorted(
            i for i, (_l, _a, status) in self.model.after_sales.items() if status == "requested"
        )

    @precondition(lambda self: bool(self.open_after_sales()))
    @rule(data=st.data(), approve=st.sampled_from([True, True, False]))
    def decide_after_sale(self, data: st.DataObject, approve: bool) -> None:
        after_sale_id = data.draw(st.sampled_from(self.open_after_sales()))
        line_id, amount, _status = self.model.after_sales[after_sale_id]
        admin = self.world.admin

        def decide(session: Session) -> None:
            orders.decide_after_sale(
                session, admin, after_sale_id, approve=approve, reason="" if approve else "不符合"
            )

        line = self.model.lines[line_id]
        if approve and self.model.orders[line.order_id].status == OrderStatus.CANCELLED:
            # Cancelling returned the whole payment: the request may only be rejected now.
            with pytest.raises(order_rules.OrderTransitionInvalid):
                self.act(decide)
            return
        self.act(decide)
        del line.open_requests[after_sale_id]
        self.model.after_sales[after_sale_id] = (
            line_id,
            amount,
            "approved" if approve else "rejected",
        )
        if approve:
            event_seen("refund after settlement" if line.settled else "refund before settlement")
            self.model.refund(line, amount)
        # The merchant's console retries the decision: refused, and nothing moves twice.
        with pytest.raises(orders.AfterSaleAlreadyDecided):
            self.act(decide)

    # --- settlement ---------------------------------------------------------------------------

    def settle_then_run_the_job_again(self) -> None:
        at = utc_now()
        count = self.act(commissions.settle_due, at)
        assert count == self.model.settle(at)
        event_seen(f"settled {min(count, 3)}+ records" if count else "settled nothing")
        commission_tasks.settle_due()  # the daily job, run once more: nothing new is due
        assert self.model.settle(utc_now()) == 0

    # --- fraud holds --------------------------------------------------------------------------

    def open_holds(self) -> list[int]:
        return sorted(line.id for line in self.model.lines.values() if line.hold_status == "open")

    @precondition(lambda self: bool(self.open_holds()))
    @rule(data=st.data(), release=st.booleans())
    def decide_hold(self, data: st.DataObject, release: bool) -> None:
        line = self.model.lines[data.draw(st.sampled_from(self.open_holds()))]
        hold_id = line.hold_id
        assert hold_id is not None
        decide = commissions.release_hold if release else commissions.confirm_fraud
        admin = self.world.admin
        self.act(lambda s: decide(s, admin, hold_id, "人工复核"))
        line.held = False
        line.hold_status = "released" if release else "confirmed"
        event_seen(f"hold {line.hold_status}")
        if not release:
            line.void = True
        with pytest.raises(FraudHoldAlreadyDecided):
            self.act(lambda s: decide(s, admin, hold_id, "重复提交"))

    # --- withdrawals --------------------------------------------------------------------------

    @rule(
        data=st.data(),
        kind=st.sampled_from(["fit", "fit", "everything", "below"]),
        crash_first=st.booleans(),
    )
    def request_withdrawal(self, data: st.DataObject, kind: str, crash_first: bool) -> None:
        balances = self.model.balances()
        rich = [
            promoter_id
            for promoter_id in sorted(self.world.promoters)
            if balances.get(ledger_rules.promoter_available(promoter_id), 0) >= 1000
        ]
        choices = rich if rich and kind == "fit" else sorted(self.world.promoters)
        promoter_id = data.draw(st.sampled_from(choices))
        promoter = self.world.promoters[promoter_id]
        available = balances.get(ledger_rules.promoter_available(promoter_id), 0)
        held_or_pending = balances.get(
            ledger_rules.promoter_on_hold(promoter_id), 0
        ) + balances.get(ledger_rules.promoter_pending(promoter_id), 0)
        if kind == "fit" and available >= 1000:
            amount = data.draw(st.integers(1000, available))
        elif kind == "below":
            amount = 999
        else:
            # Everything the promoter has, held and unsettled money included: never allowed
            # unless it is all settled.
            amount = max(1000, available + held_or_pending + 1)
        key = f"w{next(self.counter)}"
        event_seen(f"withdrawal attempt {kind}")

        def request(session: Session) -> int:
            return withdrawals.request_withdrawal(session, promoter.principal, amount, key).id

        if amount < 1000:
            with pytest.raises(withdrawals.WithdrawalBelowMinimum):
                self.act(request)
            return
        if amount > available:
            with pytest.raises(InsufficientBalance):
                self.act(request)
            return
        if crash_first:
            with self.database.sessions() as session:
                request(session)
                session.rollback()
        withdrawal_id = self.act(request)
        assert self.act(request) == withdrawal_id  # the client's retry: the same withdrawal
        event_seen("withdrawal requested")
        self.model.withdrawals[withdrawal_id] = WithdrawalModel(
            withdrawal_id, promoter_id, amount, key, WithdrawalStatus.REQUESTED
        )
        # Finance often reviews at once (otherwise the review rule picks it up later).
        for action in data.draw(
            st.sampled_from(
                [[], ["approve", "paid"], ["approve", "paid"], ["approve", "failed"], ["reject"]]
            ),
            label="review now",
        ):
            self.review(self.model.withdrawals[withdrawal_id], action)

    @precondition(lambda self: bool(self.model.withdrawals))
    @rule(
        data=st.data(),
        action=st.sampled_from(["approve", "approve", "reject", "paid", "paid", "failed"]),
        any_withdrawal=st.integers(0, 3),
    )
    def review_withdrawal(self, data: st.DataObject, action: str, any_withdrawal: int) -> None:
        fitting = {
            "approve": WithdrawalStatus.REQUESTED,
            "reject": WithdrawalStatus.REQUESTED,
            "paid": WithdrawalStatus.APPROVED,
            "failed": WithdrawalStatus.APPROVED,
        }[action]
        ready = sorted(i for i, w in self.model.withdrawals.items() if w.status == fitting)
        # Mostly one the action applies to; sometimes any (the refusals and idempotent replays).
        candidates = ready if ready and any_withdrawal else sorted(self.model.withdrawals)
        self.review(self.model.withdrawals[data.draw(st.sampled_from(candidates))], action)

    def review(self, withdrawal: WithdrawalModel, action: str) -> None:
        status = withdrawal.status
        admin = self.world.admin
        calls: dict[str, Callable[[Session], Any]] = {
            "approve": lambda s: withdrawals.approve(s, admin, withdrawal.id),
            "reject": lambda s: withdrawals.reject(s, admin, withdrawal.id, "资料不符"),
            "paid": lambda s: withdrawals.mark_paid(s, admin, withdrawal.id),
            "failed": lambda s: withdrawals.mark_failed(s, admin, withdrawal.id, "银行退回"),
        }
        moves = {
            ("approve", WithdrawalStatus.REQUESTED): WithdrawalStatus.APPROVED,
            ("approve", WithdrawalStatus.APPROVED): WithdrawalStatus.APPROVED,
            ("reject", WithdrawalStatus.REQUESTED): WithdrawalStatus.REJECTED,
            ("paid", WithdrawalStatus.APPROVED): WithdrawalStatus.PAID,
            ("paid", WithdrawalStatus.PAID): WithdrawalStatus.PAID,
            ("failed", WithdrawalStatus.APPROVED): WithdrawalStatus.FAILED,
        }
        after = moves.get((action, status))
        if after is None:
            with pytest.raises(withdrawals.WithdrawalStatusInvalid):
                self.act(calls[action])
            return
        self.act(calls[action])
        if after == WithdrawalStatus.PAID and status != WithdrawalStatus.PAID:
            withdrawal.status = after
            self.model.mark_paid_out(withdrawal.promoter_id)
        withdrawal.status = after
        event_seen(f"withdrawal {after.value}")
        if after in (WithdrawalStatus.APPROVED, WithdrawalStatus.PAID):
            self.act(calls[action])  # approve and paid are idempotent: a retry is a no-op
        else:
            with pytest.raises(withdrawals.WithdrawalStatusInvalid):
                self.act(calls[action])

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        with self.database.sessions() as session:
            self.check_ledger(session)
            self.check_records(session)

    def check_ledger(self, session: Session) -> None:
        assert ledger.check_balanced(session) == []
        assert ledger.trial_balance(session) == 0
        accounts = {
            row[0]: (row[1], row[2], row[3])
            for row in session.execute(
                select(
                    LedgerAccount.id,
                    LedgerAccount.kind,
                    LedgerAccount.owner_type,
                    LedgerAccount.owner_id,
                )
            )
        }
        transactions = {
            row[0]: (row[1], row[2], row[3])
            for row in session.execute(
                select(
                    LedgerTransaction.id,
                    LedgerTransaction.kind,
                    LedgerTransaction.idempotency_key,
                    LedgerTransaction.correlation_key,
                )
            )
        }
        entries = {
            row[0]: (row[1], row[2], row[3])
            for row in session.execute(
                select(
                    LedgerEntry.id,
                    LedgerEntry.transaction_id,
                    LedgerEntry.account_id,
                    LedgerEntry.amount_fen,
                )
            )
        }
        # Append-only: every row seen before is still there, unchanged; new rows come after.
        for seen, current in (
            (self.seen_accounts, accounts),
            (self.seen_transactions, transactions),
            (self.seen_entries, entries),
        ):
            assert {key: current.get(key) for key in seen} == seen
            if seen:
                assert min(set(current) - set(seen), default=max(seen) + 1) > max(seen)
        self.seen_accounts = accounts  # type: ignore[assignment]
        self.seen_transactions = transactions
        self.seen_entries = entries

        def key_of(account_id: int) -> AccountKey:
            kind, owner_type, owner_id = accounts[account_id]
            return AccountKey(LedgerAccountKind(kind), LedgerOwnerType(owner_type), owner_id)

        sums: dict[AccountKey, int] = defaultdict(int)
        nets: dict[str, dict[AccountKey, int]] = defaultdict(lambda: defaultdict(int))
        for transaction_id, account_id, amount in entries.values():
            account = key_of(account_id)
            sums[account] += amount
            nets[transactions[transaction_id][2]][account] += amount
        expected = self.model.balances()
        owners = {(account.owner_type, account.owner_id) for account in self.model.accounts()}
        reported = {
            AccountKey(kind, owner_type, owner_id): amount
            for owner_type, owner_id in owners
            for kind, amount in ledger.balances_for_owner(
                session, None, owner_type, owner_id
            ).items()
        }
        for account in self.model.accounts():
            want = expected.get(account, 0) + self.platform_baseline.get(account, 0)
            # The service's balance is the sum of the account's entries, and the model's figure.
            assert (account, reported[account]) == (account, sums.get(account, 0))
            assert (account, sums.get(account, 0)) == (account, want)
        for line in self.model.lines.values():
            posted = {a: v for a, v in nets.get(f"order_line:{line.id}", {}).items() if v != 0}
            assert (line.id, posted) == (line.id, self.model.line_net(line))
        # Each withdrawal moved money once per step of its life, and only out of available.
        for withdrawal in self.model.withdrawals.values():
            correlation = f"withdrawal:{withdrawal.promoter_id}:{withdrawal.client_key}"
            kinds = sorted(
                kind for kind, _key, corr in transactions.values() if corr == correlation
            )
            final = {
                WithdrawalStatus.PAID: ["withdrawal.paid"],
                WithdrawalStatus.REJECTED: ["withdrawal.rejected"],
                WithdrawalStatus.FAILED: ["withdrawal.failed"],
            }.get(withdrawal.status, [])
            assert kinds == sorted(["withdrawal.requested", *final])
            request = dict(nets[correlation])
            promoter = withdrawal.promoter_id
            if withdrawal.status in (WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED):
                assert request == {
                    ledger_rules.promoter_available(promoter): -withdrawal.amount_fen,
                    ledger_rules.promoter_withdrawing(promoter): withdrawal.amount_fen,
                }

    def check_records(self, session: Session) -> None:
        model = self.model
        line_ids = list(model.lines)
        rows = session.scalars(
            select(Commission).where(Commission.order_line_id.in_(line_ids))
        ).all()
        found = {(row.order_line_id, row.level): row for row in rows}
        expected_keys = {(line.id, level) for line in model.lines.values() for level in line.rows}
        assert set(found) == expected_keys
        for (line_id, level), row in found.items():
            line = model.lines[line_id]
            expect = line.rows[level]
            state = model.row_state(line, expect)
            assert (line_id, level, row.promoter_id, row.state, row.amount_fen) == (
                line_id,
                level,
                expect.promoter_id,
                state,
                expect.amount_fen,
            )
            if not line.void and expect.zeroed is None:
                # The records mirror the pure split of the model's snapshot, to the 分.
                assert row.amount_fen == line.share(level)
            received_at = model.orders[line.order_id].received_at
            if state == CommissionState.PENDING and received_at is not None:
                assert row.settles_at is not None
                assert ensure_aware(row.settles_at) == received_at + timedelta(days=line.hold_days)
        db_lines = session.scalars(select(OrderLine).where(OrderLine.id.in_(line_ids))).all()
        assert len(db_lines) == len(line_ids)
        for db_line in db_lines:
            line = model.lines[db_line.id]
            assert (
                db_line.paid_fen,
                db_line.coupon_discount_fen,
                db_line.refunded_fen,
                db_line.open_aftersales,
                db_line.hold_days,
            ) == (
                line.snapshot.paid_fen,
                line.coupon_fen,
                line.refunded_fen,
                len(line.open_requests),
                line.hold_days,
            )
        order_rows = dict(
            session.execute(
                select(Order.id, Order.status).where(Order.id.in_(list(model.orders)))
            ).all()
        )
        assert order_rows == {o.id: o.status for o in model.orders.values()}
        product_ids = [product.id for product in self.world.products]
        order_count = session.scalar(
            select(func.count(func.distinct(OrderLine.order_id))).where(
                OrderLine.product_id.in_(product_ids)
            )
        )
        assert order_count == len(model.orders)
        after_sales = dict(
            session.execute(
                select(AfterSale.id, AfterSale.status)
                .join(OrderLine, OrderLine.id == AfterSale.order_line_id)
                .where(OrderLine.product_id.in_(product_ids))
            ).all()
        )
        assert after_sales == {
            i: AfterSaleStatus(status) for i, (_l, _a, status) in model.after_sales.items()
        }
        holds = dict(
            session.execute(
                select(FraudHold.order_line_id, FraudHold.status).where(
                    FraudHold.order_line_id.in_(line_ids)
                )
            ).all()
        )
        assert holds == {
            line.id: line.hold_status for line in model.lines.values() if line.hold_status
        }
        promoter_ids = list(self.world.promoters)
        withdrawal_rows = dict(
            session.execute(
                select(Withdrawal.id, Withdrawal.status).where(
                    Withdrawal.promoter_id.in_(promoter_ids)
                )
            ).all()
        )
        assert withdrawal_rows == {w.id: w.status for w in model.withdrawals.values()}
        batch = session.get(CouponBatch, self.world.coupon.id)
        assert batch is not None
        assert batch.issued_quantity == model.coupons_used


def test_the_money_loop_stays_exact(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = commissions.current_policy
    monkeypatch.setattr(
        commissions,
        "current_policy",
        lambda: dataclasses.replace(original(), velocity_max_orders=VELOCITY_MAX_ORDERS),
    )
    settings.link_expiry_days = 3650
    run_state_machine_as_test(
        lambda: MoneyLoop(database, settings),  # type: ignore[arg-type]  # a factory works
        settings=settings_for_ci(),
    )
    print("money loop:", dict(sorted(EVENTS.items())))


def settings_for_ci() -> Any:
    return hypothesis_settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )

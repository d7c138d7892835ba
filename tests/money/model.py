"""An independent model of the money loop: what every line, account and record must hold.

The model knows only what a client knows (what was ordered, at which price, through whose link,
which after-sales were approved, which holds released, which withdrawals made) and the pure rules
(``siyu.commissions.rules``). It never reads the frozen snapshot or the ledger to decide what the
ledger should say; it reads the database only for the clock values the services stamped
(paid_at, received_at) and for the ids they assigned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from siyu.commissions import rules
from siyu.commissions.rules import CommissionSnapshot, CommissionSplit
from siyu.ledger import rules as ledger_rules
from siyu.ledger.rules import AccountKey
from siyu.models import CommissionState, OrderStatus, WithdrawalStatus
from tests.money.world import LoopWorld, ProductSpec

# The fraud policy's velocity threshold is not a setting; the test lowers it (see the machine) so
# that a few orders in an hour put commissions on hold, as 31 would by default.
VELOCITY_MAX_ORDERS = 2
VELOCITY_WINDOW = timedelta(minutes=60)


@dataclass
class RowModel:
    """One commission record (one level of one line)."""

    level: int
    promoter_id: int
    amount_fen: int
    zeroed: CommissionState | None = None
    """Set when a refund took the share under 1 分: invalid before settlement, reversed after."""
    paid_out: bool = False


@dataclass
class LineModel:
    id: int
    order_id: int
    merchant_id: int
    product: ProductSpec
    quantity: int
    coupon_fen: int
    snapshot: CommissionSnapshot
    hold_days: int
    rows: dict[int, RowModel]
    refunded_fen: int = 0
    open_requests: dict[int, int] = field(default_factory=dict)
    """Open after-sale id -> amount."""
    held: bool = False
    hold_id: int | None = None
    hold_status: str | None = None
    settled: bool = False
    settle_run: int = 0
    """Which settlement run settled the line (the order paid-out coverage follows)."""
    void: bool = False
    """Cancelled or confirmed fraud: every movement of the line is reversed."""

    def split(self) -> CommissionSplit:
        return rules.split_commission(self.snapshot, self.refunded_fen)

    def share(self, level: int) -> int:
        split = self.split()
        return split.l1_fen if level == 1 else split.l2_fen


@dataclass
class OrderModel:
    id: int
    lines: list[int]
    status: OrderStatus
    paid_at: datetime
    auto_confirm_at: datetime | None
    coupon: bool
    received_at: datetime | None = None
    body: dict[str, object] | None = None
    """The webhook payload (to replay it)."""


@dataclass
class WithdrawalModel:
    id: int
    promoter_id: int
    amount_fen: int
    client_key: str
    status: WithdrawalStatus


@dataclass
class LoopModel:
    world: LoopWorld
    hold_days: int
    l2_share_bp: int
    self_purchase_commission: bool
    orders: dict[int, OrderModel] = field(default_factory=dict)
    lines: dict[int, LineModel] = field(default_factory=dict)
    after_sales: dict[int, tuple[int, int, str]] = field(default_factory=dict)
    """After-sale id -> (line id, amount, status)."""
    withdrawals: dict[int, WithdrawalModel] = field(default_factory=dict)
    bindings: dict[str, int] = field(default_factory=dict)
    """Buyer phone -> bound promoter (first bind wins)."""
    attributed_times: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    coupons_used: int = 0
    settle_runs: int = 0

    # --- placing -----------------------------------------------------------------------------

    def attribute(self, phone: str, click_promoter: int | None) -> tuple[int | None, bool]:
        """(L1, self-purchase): the click wins, else the binding, else nobody."""
        l1 = click_promoter if click_promoter is not None else self.bindings.get(phone)
        buyer_promoter = self.world.promoter_of_phone(phone)
        return l1, l1 is not None and l1 == buyer_promoter

    def bind(self, phone: str, l1: int | None) -> None:
        if l1 is None or phone in self.bindings:
            return
        if l1 == self.world.promoter_of_phone(phone):
            return  # no self-binding
        self.bindings[phone] = l1

    def snapshot(
        self, product: ProductSpec, quantity: int, paid_fen: int, l1: int | None, self_buy: bool
    ) -> CommissionSnapshot:
        l2: int | None = None
        l2_active = False
        if l1 is not None:
            l2 = self.world.promoters[l1].inviter_id
            l2_active = l2 is not None and self.world.promoters[l2].active
        return CommissionSnapshot(
            paid_fen=paid_fen,
            quantity=quantity,
            commission_rate_bp=product.rate_bp,
            fixed_commission_fen=product.fixed_fen,
            platform_take_bp=product.take_bp,
            l2_share_bp=self.l2_share_bp,
            l1_promoter_id=l1,
            l2_promoter_id=l2,
            l2_active=l2_active,
            self_purchase=self_buy,
            self_purchase_commission=self.self_purchase_commission,
        )

    def held_by_velocity(self, l1: int | None, paid_at: datetime) -> bool:
        """Record this attributed order and say whether the promoter's velocity is too high."""
        if l1 is None:
            return False
        times = self.attributed_times[l1]
        times.append(paid_at)
        recent = [at for at in times if paid_at - VELOCITY_WINDOW <= at <= paid_at]
        return len(recent) > VELOCITY_MAX_ORDERS

    def new_line(
        self,
        line_id: int,
        order_id: int,
        product: ProductSpec,
        quantity: int,
        paid_fen: int,
        coupon_fen: int,
        l1: int | None,
        self_buy: bool,
        held: bool,
    ) -> LineModel:
        snapshot = self.snapshot(product, quantity, paid_fen, l1, self_buy)
        split = rules.split_commission(snapshot)
        rows: dict[int, RowModel] = {}
        if split.outcome == rules.CommissionOutcome.EARNED and split.l1_promoter_id is not None:
            rows[1] = RowModel(1, split.l1_promoter_id, split.l1_fen)
            if split.l2_promoter_id is not None and split.l2_fen > 0:
                rows[2] = RowModel(2, split.l2_promoter_id, split.l2_fen)
        line = LineModel(
            id=line_id,
            order_id=order_id,
            merchant_id=product.merchant_id,
            product=product,
            quantity=quantity,
            coupon_fen=coupon_fen,
            snapshot=snapshot,
            hold_days=self.hold_days,
            rows=rows,
            held=held and bool(rows),
        )
        self.lines[line_id] = line
        return line

    # --- events ------------------------------------------------------------------------------

    def refund(self, line: LineModel, amount: int) -> None:
        """An approved after-sale: the shares are recomputed at the frozen rates."""
        line.refunded_fen += amount
        if line.void:
            return
        for row in line.rows.values():
            if row.zeroed is not None:
                continue
            row.amount_fen = line.share(row.level)
            if row.amount_fen == 0:
                row.zeroed = CommissionState.REVERSED if line.settled else CommissionState.INVALID

    def live_rows(self, line: LineModel) -> list[RowModel]:
        return [row for row in line.rows.values() if row.zeroed is None]

    def settle(self, now: datetime) -> int:
        """Which records the settlement run at ``now`` must settle (and settle them)."""
        settled = 0
        self.settle_runs += 1
        for line in self.lines.values():
            order = self.orders[line.order_id]
            due = (
                not line.void
                and not line.held
                and not line.settled
                and order.received_at is not None
                and now >= order.received_at + timedelta(days=line.hold_days)
                and not line.open_requests
            )
            live = self.live_rows(line)
            if due and live:
                line.settled = True
                line.settle_run = self.settle_runs
                settled += len(live)
        return settled

    def mark_paid_out(self, promoter_id: int) -> None:
        """A payout was confirmed: the promoter's settled records, oldest settlement first (then
        record order), become paid out as far as the paid total not yet covered reaches whole
        records. No money moves."""
        paid = sum(
            w.amount_fen
            for w in self.withdrawals.values()
            if w.promoter_id == promoter_id and w.status == WithdrawalStatus.PAID
        )
        mine = [
            (line, row)
            for line in self.lines.values()
            for row in line.rows.values()
            if row.promoter_id == promoter_id and row.zeroed is None and not line.void
        ]
        budget = paid - sum(row.amount_fen for _line, row in mine if row.paid_out)
        waiting = sorted(
            (
                (line.settle_run, line.id, row.level, row)
                for line, row in mine
                if line.settled and not row.paid_out
            ),
            key=lambda item: item[:3],
        )
        for _run, _line, _level, row in waiting:
            if row.amount_fen > budget:
                break
            budget -= row.amount_fen
            row.paid_out = True

    def available_fen(self, promoter_id: int) -> int:
        return self.balances().get(ledger_rules.promoter_available(promoter_id), 0)

    # --- expectations ------------------------------------------------------------------------

    def row_state(self, line: LineModel, row: RowModel) -> CommissionState:
        if line.void:
            return CommissionState.INVALID
        if row.zeroed is not None:
            return row.zeroed
        if line.held:
            return CommissionState.ON_HOLD
        if line.settled:
            return CommissionState.PAID_OUT if row.paid_out else CommissionState.SETTLED
        if self.orders[line.order_id].received_at is not None:
            return CommissionState.PENDING
        return CommissionState.ESTIMATED

    def line_net(self, line: LineModel) -> dict[AccountKey, int]:
        """What all movements of the line must have done to each account (zeros dropped)."""
        if line.void:
            return {}
        split = line.split()
        net: dict[AccountKey, int] = defaultdict(int)
        net[ledger_rules.merchant_payable(line.merchant_id)] -= split.pool_fen
        net[ledger_rules.platform_revenue()] += split.platform_kept_fen
        for row in self.live_rows(line):
            if line.held:
                account = ledger_rules.promoter_on_hold(row.promoter_id)
            elif line.settled:
                account = ledger_rules.promoter_available(row.promoter_id)
            else:
                account = ledger_rules.promoter_pending(row.promoter_id)
            net[account] += line.share(row.level)
        return {account: amount for account, amount in net.items() if amount != 0}

    def balances(self) -> dict[AccountKey, int]:
        """Every account of this world (platform accounts: what this world added)."""
        total: dict[AccountKey, int] = defaultdict(int)
        for line in self.lines.values():
            for account, amount in self.line_net(line).items():
                total[account] += amount
        for withdrawal in self.withdrawals.values():
            promoter = withdrawal.promoter_id
            if withdrawal.status in (WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED):
                total[ledger_rules.promoter_available(promoter)] -= withdrawal.amount_fen
                total[ledger_rules.promoter_withdrawing(promoter)] += withdrawal.amount_fen
            elif withdrawal.status == WithdrawalStatus.PAID:
                total[ledger_rules.promoter_available(promoter)] -= withdrawal.amount_fen
                total[ledger_rules.payout_clearing()] += withdrawal.amount_fen
        return dict(total)

    def accounts(self) -> list[AccountKey]:
        keys = [ledger_rules.merchant_payable(m) for m in self.world.merchants]
        keys += [ledger_rules.platform_revenue(), ledger_rules.payout_clearing()]
        for promoter_id in self.world.promoters:
            keys += [
                ledger_rules.promoter_pending(promoter_id),
                ledger_rules.promoter_available(promoter_id),
                ledger_rules.promoter_on_hold(promoter_id),
                ledger_rules.promoter_withdrawing(promoter_id),
            ]
        return keys

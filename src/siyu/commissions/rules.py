"""Pure commission rules (product.md §3, issue 3): policy, line base, coupon allocation, the B2K2C
split, refund recomputation, the commission state machine, settlement and fraud signals.

No I/O, no database. Money is integer fen (分) and rates integer basis points; every rate goes
through ``siyu.kit.money.apply_bp`` (floor), so a share under 1 分 is 0 and no record is made for
it. Where product.md is silent, the decision is written next to the code that makes it.

The errors live here rather than in a service because these functions raise them and the service
will import this module (the other way round would be circular), as in ``catalog.rules``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from siyu.errors import Conflict, ValidationFailed
from siyu.kit.money import apply_bp, check_bp, check_fen, format_yuan
from siyu.kit.time import ensure_aware
from siyu.models.promoters import BindingMode

# product.md §3: L1 (the attributed promoter) and L2 (who recruited L1), never deeper.
MAX_LEVELS: Final = 2
ALLOWED_HOLD_DAYS: Final = (0, 7, 14, 30, 60, 90)
DEFAULT_ATTRIBUTION_WINDOW_DAYS: Final = 15
# Silent in product.md: a window longer than a quarter is no longer "the click that sold it".
MAX_ATTRIBUTION_WINDOW_DAYS: Final = 90
MAX_QUANTITY: Final = 10**9


# --- errors -------------------------------------------------------------------------------------


class CommissionPolicyInvalid(ValidationFailed):
    code = "commission_policy_invalid"
    message_en = "{field} must be one of {allowed}, got {value!r}."
    message_zh = "{field_zh}的取值无效（“{value}”），可选：{allowed}。"


class CommissionLevelsExceeded(ValidationFailed):
    code = "commission_levels_exceeded"
    message_en = (
        "Commission is paid to at most 2 levels (L1 and L2), got {value!r}: three or more levels "
        "risk China's pyramid-selling rules (禁止传销条例) and WeChat's distribution rules."
    )
    message_zh = (
        "佣金最多分两级（直推 L1 与其上级 L2），不能设置为 {value} 级："
        "三级及以上分佣涉嫌违反《禁止传销条例》和微信分销规则，可能导致封号和法律责任。"
    )


class CommissionChainInvalid(ValidationFailed):
    code = "commission_chain_invalid"
    message_en = "An L2 promoter needs an L1 promoter and must differ from it (L1={l1}, L2={l2})."
    message_zh = "推手链路异常：有上级（L2）时必须有直推推手（L1），且两者不能是同一人。"


class LineQuantityInvalid(ValidationFailed):
    code = "line_quantity_invalid"
    message_en = "quantity must be an integer between 1 and {limit}, got {value!r}."
    message_zh = "购买数量必须是 1 到 {limit} 之间的整数，当前为“{value}”。"


class LineAmountsInvalid(ValidationFailed):
    code = "line_amounts_invalid"
    message_en = (
        "coupon ({coupon}) plus virtual-asset payment ({virtual}) "
        "exceeds the line amount ({amount})."
    )
    message_zh = "优惠券与虚拟资产抵扣合计超过该商品金额（{amount_yuan} 元），请检查订单行金额。"


class CouponExceedsLines(ValidationFailed):
    code = "coupon_exceeds_lines"
    message_en = "coupon_fen ({coupon}) exceeds the total of the lines it applies to ({total})."
    message_zh = (
        "优惠金额超过适用商品的合计金额（{total_yuan} 元），请把优惠金额限制在订单金额以内。"
    )


class RefundAmountInvalid(ValidationFailed):
    code = "refund_amount_invalid"
    message_en = "A refund must be a whole number of fen of at least 1, got {value!r}."
    message_zh = "退款金额至少为 0.01 元。"


class RefundExceedsPaid(ValidationFailed):
    code = "refund_exceeds_paid"
    message_en = "Refunds ({refunded}) would exceed what was paid for the line ({paid})."
    message_zh = "累计退款金额不能超过该商品的实付金额（{paid_yuan} 元）。"


class CommissionTransitionInvalid(Conflict):
    status = 409
    code = "commission_transition_invalid"
    message_en = "A commission in state {state} cannot take the event {event}."
    message_zh = "佣金当前状态为“{state_zh}”，不能执行“{event_zh}”，请刷新后重试。"


# --- policy -------------------------------------------------------------------------------------


def _check_int(value: object, field: str, field_zh: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CommissionPolicyInvalid(
            field=field, field_zh=field_zh, value=value, allowed=f"{low}–{high}"
        )
    return value


def check_hold_days(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in ALLOWED_HOLD_DAYS:
        allowed = "/".join(str(days) for days in ALLOWED_HOLD_DAYS)
        raise CommissionPolicyInvalid(
            field="hold_days", field_zh="结算冻结期（天）", value=value, allowed=allowed
        )
    return value


def check_attribution_window_days(value: object) -> int:
    return _check_int(
        value, "attribution_window_days", "归因窗口（天）", 1, MAX_ATTRIBUTION_WINDOW_DAYS
    )


def check_levels(value: object) -> int:
    """1 (L1 only) or 2 (L1 and L2). Three or more is refused with the reason, not just a range."""
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_LEVELS:
        raise CommissionLevelsExceeded(value=value)
    return _check_int(value, "max_levels", "分佣层级", 1, MAX_LEVELS)


@dataclass(frozen=True)
class CommissionPolicy:
    """Platform-wide commission settings; each default is product.md §3's.

    The fraud thresholds are not in product.md: 30 attributed orders per promoter in 60 minutes is
    far above what one person's friends buy, yet low enough to catch order brushing (刷单) early;
    a hold only sends the commission to review, so a false positive costs a reviewer's minute.
    """

    platform_take_bp: int = 1000
    l2_share_bp: int = 1000
    """L2's share of L1's commission, paid out of the platform take (never more than the take)."""
    self_purchase_commission: bool = False
    hold_days: int = 7
    attribution_window_days: int = DEFAULT_ATTRIBUTION_WINDOW_DAYS
    binding_mode: BindingMode = BindingMode.FIRST_BIND_WINS
    max_levels: int = MAX_LEVELS
    velocity_max_orders: int = 30
    velocity_window_minutes: int = 60
    shared_network_window_hours: int = 24

    def __post_init__(self) -> None:
        check_bp(self.platform_take_bp, "platform_take_bp", "平台提点")
        check_bp(self.l2_share_bp, "l2_share_bp", "上级（L2）分成比例")
        if not isinstance(self.self_purchase_commission, bool):
            raise CommissionPolicyInvalid(
                field="self_purchase_commission",
                field_zh="自购佣金",
                value=self.self_purchase_commission,
                allowed="true/false",
            )
        check_hold_days(self.hold_days)
        check_attribution_window_days(self.attribution_window_days)
        if not isinstance(self.binding_mode, BindingMode):
            raise CommissionPolicyInvalid(
                field="binding_mode",
                field_zh="锁粉方式",
                value=self.binding_mode,
                allowed="/".join(mode.value for mode in BindingMode),
            )
        check_levels(self.max_levels)
        _check_int(self.velocity_max_orders, "velocity_max_orders", "下单频率阈值", 1, 10**6)
        # Up to a week (7 × 24 × 60 minutes).
        _check_int(
            self.velocity_window_minutes, "velocity_window_minutes", "频率窗口（分钟）", 1, 10080
        )
        _check_int(
            self.shared_network_window_hours,
            "shared_network_window_hours",
            "设备/IP 关联窗口（小时）",
            1,
            720,
        )


# --- line base and coupon allocation ------------------------------------------------------------


def check_quantity(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise LineQuantityInvalid(value=value, limit=MAX_QUANTITY)
    return value


def line_paid_fen(
    *,
    unit_price_fen: int,
    quantity: int,
    coupon_discount_fen: int = 0,
    virtual_asset_fen: int = 0,
) -> int:
    """What the buyer paid in money for one order line, before refunds.

    ``unit_price_fen`` is the price charged (the promotion price), never the list price.
    ``coupon_discount_fen`` is this line's part of the order's coupons (``allocate_coupon``);
    ``virtual_asset_fen`` is what points, gift cards or balance paid. Freight is not a parameter:
    it is never part of the base.
    """
    unit = check_fen(unit_price_fen, "unit_price_fen", "成交单价")
    count = check_quantity(quantity)
    coupon = check_fen(coupon_discount_fen, "coupon_discount_fen", "优惠券抵扣")
    virtual = check_fen(virtual_asset_fen, "virtual_asset_fen", "虚拟资产抵扣")
    amount = check_fen(unit * count, "line_amount_fen", "商品金额")
    if coupon + virtual > amount:
        raise LineAmountsInvalid(
            coupon=coupon, virtual=virtual, amount=amount, amount_yuan=format_yuan(amount)
        )
    return amount - coupon - virtual


def line_base_fen(
    *,
    unit_price_fen: int,
    quantity: int,
    coupon_discount_fen: int = 0,
    virtual_asset_fen: int = 0,
    refunded_fen: int = 0,
) -> int:
    """The commission base: the line's paid amount minus money refunded on it (never negative).

    ``refunded_fen`` is the money returned to the buyer for this line, cumulative; refunding more
    than was paid is refused rather than clipped, because it means the caller's numbers are wrong.
    """
    paid = line_paid_fen(
        unit_price_fen=unit_price_fen,
        quantity=quantity,
        coupon_discount_fen=coupon_discount_fen,
        virtual_asset_fen=virtual_asset_fen,
    )
    return paid - _check_refunded(refunded_fen, paid)


def _check_refunded(refunded_fen: int, paid_fen: int) -> int:
    refunded = check_fen(refunded_fen, "refunded_fen", "已退款金额")
    if refunded > paid_fen:
        raise RefundExceedsPaid(refunded=refunded, paid=paid_fen, paid_yuan=format_yuan(paid_fen))
    return refunded


def allocate_coupon(coupon_fen: int, line_amounts_fen: Sequence[int]) -> tuple[int, ...]:
    """Split one coupon across the lines it applies to, pro rata by line amount.

    Largest remainder method: each line gets floor(coupon × amount / total); the fen left over go
    one each to the lines with the largest remainders, ties to the later line (so with equal
    lines the last line absorbs the odd fen, as people expect). The allocations add up exactly to
    the coupon and never exceed a line's amount. A coupon larger than the lines is refused: the
    caller caps the discount at the order amount first.
    """
    coupon = check_fen(coupon_fen, "coupon_fen", "优惠金额")
    amounts = [check_fen(amount, "line_amount_fen", "商品金额") for amount in line_amounts_fen]
    total = sum(amounts)
    if coupon > total:
        raise CouponExceedsLines(coupon=coupon, total=total, total_yuan=format_yuan(total))
    if coupon == 0:
        return tuple(0 for _ in amounts)
    shares: list[int] = []
    remainders: list[int] = []
    for amount in amounts:
        share, remainder = divmod(coupon * amount, total)
        shares.append(share)
        remainders.append(remainder)
    leftover = coupon - sum(shares)
    # Only lines with a non-zero remainder can be picked (leftover < their count), so a line
    # never gets more than the ceiling of its exact share, which is at most its amount.
    by_remainder = sorted(range(len(amounts)), key=lambda i: (remainders[i], i), reverse=True)
    for index in by_remainder[:leftover]:
        shares[index] += 1
    return tuple(shares)


# --- the split ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommissionSnapshot:
    """Everything one line's commission depends on, frozen onto the order line at creation.

    ``paid_fen`` is the line's paid amount before refunds (``line_paid_fen``). A fixed per-unit
    commission replaces the rate. ``l2_active`` records whether L2 could earn when the order was
    created (a frozen upline earns nothing on it, ever).
    """

    paid_fen: int
    quantity: int
    commission_rate_bp: int
    fixed_commission_fen: int | None
    platform_take_bp: int
    l2_share_bp: int
    l1_promoter_id: int | None
    l2_promoter_id: int | None = None
    l2_active: bool = True
    self_purchase: bool = False
    self_purchase_commission: bool = False

    def __post_init__(self) -> None:
        check_fen(self.paid_fen, "paid_fen", "实付金额")
        check_quantity(self.quantity)
        check_bp(self.commission_rate_bp, "commission_rate_bp", "佣金比例")
        if self.fixed_commission_fen is not None:
            check_fen(self.fixed_commission_fen, "fixed_commission_fen", "每件固定佣金")
        check_bp(self.platform_take_bp, "platform_take_bp", "平台提点")
        check_bp(self.l2_share_bp, "l2_share_bp", "上级（L2）分成比例")
        if self.l2_promoter_id is not None and (
            self.l1_promoter_id is None or self.l2_promoter_id == self.l1_promoter_id
        ):
            raise CommissionChainInvalid(l1=self.l1_promoter_id, l2=self.l2_promoter_id)


def freeze_snapshot(
    policy: CommissionPolicy,
    *,
    paid_fen: int,
    quantity: int,
    commission_rate_bp: int,
    fixed_commission_fen: int | None,
    l1_promoter_id: int | None,
    self_purchase: bool = False,
    l2_promoter_id: int | None = None,
    l2_active: bool = True,
    platform_take_bp: int | None = None,
) -> CommissionSnapshot:
    """Build the snapshot from the policy in force now (later policy edits never touch it).

    ``platform_take_bp`` is the product's take when the platform set one, else the policy's.
    With ``max_levels == 1`` or no L1 there is no L2 at all.
    """
    has_l2 = policy.max_levels >= MAX_LEVELS and l1_promoter_id is not None
    return CommissionSnapshot(
        paid_fen=paid_fen,
        quantity=quantity,
        commission_rate_bp=commission_rate_bp,
        fixed_commission_fen=fixed_commission_fen,
        platform_take_bp=policy.platform_take_bp if platform_take_bp is None else platform_take_bp,
        l2_share_bp=policy.l2_share_bp,
        l1_promoter_id=l1_promoter_id,
        l2_promoter_id=l2_promoter_id if has_l2 else None,
        l2_active=l2_active if has_l2 and l2_promoter_id is not None else False,
        self_purchase=self_purchase,
        self_purchase_commission=policy.self_purchase_commission,
    )


class CommissionOutcome(enum.StrEnum):
    EARNED = "earned"
    NOT_ATTRIBUTED = "not_attributed"
    SELF_PURCHASE = "self_purchase"
    ZERO_POOL = "zero_pool"


COMMISSION_OUTCOME_LABELS: Final = {
    CommissionOutcome.EARNED: "产生佣金",
    CommissionOutcome.NOT_ATTRIBUTED: "无推手归因，不计佣金",
    CommissionOutcome.SELF_PURCHASE: "推手自购，不计佣金",
    CommissionOutcome.ZERO_POOL: "佣金不足 1 分（或已全额退款）",
}


class Party(enum.StrEnum):
    L1 = "l1"
    L2 = "l2"
    PLATFORM = "platform"


@dataclass(frozen=True)
class Payout:
    party: Party
    promoter_id: int | None
    """None for the platform."""
    amount_fen: int


@dataclass(frozen=True)
class CommissionSplit:
    """One line's commission. Invariants: pool = L1 + L2 + platform_kept; take = L2 + kept.

    ``pool_fen`` is what the merchant is charged; 0 when nobody earns (no attribution, excluded
    self-purchase): the merchant pays commission only for promotion that happened.
    """

    outcome: CommissionOutcome
    base_fen: int
    pool_fen: int
    take_fen: int
    l1_fen: int
    l2_fen: int
    platform_kept_fen: int
    l1_promoter_id: int | None
    l2_promoter_id: int | None
    """Set only when L2 may earn (present, active, two levels); its amount may still be 0."""

    def payouts(self) -> tuple[Payout, ...]:
        """The records to create: one per party with at least 1 分, in a fixed order."""
        candidates = (
            Payout(Party.L1, self.l1_promoter_id, self.l1_fen),
            Payout(Party.L2, self.l2_promoter_id, self.l2_fen),
            Payout(Party.PLATFORM, None, self.platform_kept_fen),
        )
        return tuple(payout for payout in candidates if payout.amount_fen > 0)


def commission_pool_fen(snapshot: CommissionSnapshot, base_fen: int) -> int:
    """The merchant-funded pool on ``base_fen`` (the paid amount minus refunds so far).

    Rate: floor(base × rate). Fixed: fixed × quantity, scaled pro rata when part of the line was
    refunded (floor(fixed × quantity × base / paid), the "recompute pro rata" of product.md), and
    never more than the base: a commission larger than the money paid would be a subsidy.
    """
    if snapshot.fixed_commission_fen is None:
        return apply_bp(base_fen, snapshot.commission_rate_bp)
    full = snapshot.fixed_commission_fen * snapshot.quantity
    scaled = full if base_fen == snapshot.paid_fen else full * base_fen // snapshot.paid_fen
    return min(scaled, base_fen)


def split_commission(snapshot: CommissionSnapshot, refunded_fen: int = 0) -> CommissionSplit:
    """pool → platform take → L1 = pool − take → L2 = min(floor(L1 × share), take) from the take.

    L1 earns the same with or without an upline; a frozen or absent L2's share stays with the
    platform (it never goes to L1).
    """
    base = snapshot.paid_fen - _check_refunded(refunded_fen, snapshot.paid_fen)
    l1_id = snapshot.l1_promoter_id
    if l1_id is None:
        return _nothing(CommissionOutcome.NOT_ATTRIBUTED, base, None)
    if snapshot.self_purchase and not snapshot.self_purchase_commission:
        return _nothing(CommissionOutcome.SELF_PURCHASE, base, l1_id)
    pool = commission_pool_fen(snapshot, base)
    if pool == 0:
        return _nothing(CommissionOutcome.ZERO_POOL, base, l1_id)
    take = apply_bp(pool, snapshot.platform_take_bp)
    l1 = pool - take
    l2_id = snapshot.l2_promoter_id if snapshot.l2_active else None
    l2 = min(apply_bp(l1, snapshot.l2_share_bp), take) if l2_id is not None else 0
    return CommissionSplit(
        outcome=CommissionOutcome.EARNED,
        base_fen=base,
        pool_fen=pool,
        take_fen=take,
        l1_fen=l1,
        l2_fen=l2,
        platform_kept_fen=take - l2,
        l1_promoter_id=l1_id,
        l2_promoter_id=l2_id,
    )


def _nothing(outcome: CommissionOutcome, base: int, l1_id: int | None) -> CommissionSplit:
    return CommissionSplit(
        outcome=outcome,
        base_fen=base,
        pool_fen=0,
        take_fen=0,
        l1_fen=0,
        l2_fen=0,
        platform_kept_fen=0,
        l1_promoter_id=l1_id,
        l2_promoter_id=None,
    )


# --- states -------------------------------------------------------------------------------------


class CommissionState(enum.StrEnum):
    ESTIMATED = "estimated"
    PENDING = "pending"
    SETTLED = "settled"
    PAID_OUT = "paid_out"
    INVALID = "invalid"
    REVERSED = "reversed"
    ON_HOLD = "on_hold"


COMMISSION_STATE_LABELS: Final = {
    CommissionState.ESTIMATED: "预估",
    CommissionState.PENDING: "待结算",
    CommissionState.SETTLED: "已结算",
    CommissionState.PAID_OUT: "已提现",
    CommissionState.INVALID: "已失效",
    CommissionState.REVERSED: "已冲正",
    CommissionState.ON_HOLD: "风控审核中",
}


class CommissionEvent(enum.StrEnum):
    RECEIVE = "receive"
    SETTLE = "settle"
    PAY_OUT = "pay_out"
    CANCEL = "cancel"
    PARTIAL_REFUND = "partial_refund"
    FULL_REFUND = "full_refund"
    HOLD = "hold"
    RELEASE = "release"
    REJECT = "reject"


COMMISSION_EVENT_LABELS: Final = {
    CommissionEvent.RECEIVE: "确认收货",
    CommissionEvent.SETTLE: "结算",
    CommissionEvent.PAY_OUT: "提现打款",
    CommissionEvent.CANCEL: "取消订单",
    CommissionEvent.PARTIAL_REFUND: "部分退款",
    CommissionEvent.FULL_REFUND: "全额退款",
    CommissionEvent.HOLD: "风控冻结",
    CommissionEvent.RELEASE: "审核通过解冻",
    CommissionEvent.REJECT: "审核判定作弊",
}

_S = CommissionState
_E = CommissionEvent

# Every legal move; anything else raises. Decisions where product.md is silent:
# - A hold is only possible before settlement, so held money can never be withdrawable. Fraud
#   found after settlement is a reversal, not a hold.
# - RELEASE returns to ESTIMATED; if the order was received meanwhile the service sends RECEIVE
#   next (the hold clock runs from the order's received_at, so no time is lost or gained).
#   RECEIVE while on hold keeps the hold.
# - REJECT (review finds fraud) invalidates the commission.
# - A partial refund keeps the state (before settlement the amounts are recomputed, after it a
#   reversal is appended); a full refund invalidates before settlement and reverses after it.
TRANSITIONS: Final[dict[tuple[CommissionState, CommissionEvent], CommissionState]] = {
    (_S.ESTIMATED, _E.RECEIVE): _S.PENDING,
    (_S.ESTIMATED, _E.CANCEL): _S.INVALID,
    (_S.ESTIMATED, _E.PARTIAL_REFUND): _S.ESTIMATED,
    (_S.ESTIMATED, _E.FULL_REFUND): _S.INVALID,
    (_S.ESTIMATED, _E.HOLD): _S.ON_HOLD,
    (_S.PENDING, _E.SETTLE): _S.SETTLED,
    (_S.PENDING, _E.CANCEL): _S.INVALID,
    (_S.PENDING, _E.PARTIAL_REFUND): _S.PENDING,
    (_S.PENDING, _E.FULL_REFUND): _S.INVALID,
    (_S.PENDING, _E.HOLD): _S.ON_HOLD,
    (_S.ON_HOLD, _E.RECEIVE): _S.ON_HOLD,
    (_S.ON_HOLD, _E.CANCEL): _S.INVALID,
    (_S.ON_HOLD, _E.PARTIAL_REFUND): _S.ON_HOLD,
    (_S.ON_HOLD, _E.FULL_REFUND): _S.INVALID,
    (_S.ON_HOLD, _E.RELEASE): _S.ESTIMATED,
    (_S.ON_HOLD, _E.REJECT): _S.INVALID,
    (_S.SETTLED, _E.PAY_OUT): _S.PAID_OUT,
    (_S.SETTLED, _E.PARTIAL_REFUND): _S.SETTLED,
    (_S.SETTLED, _E.FULL_REFUND): _S.REVERSED,
    (_S.PAID_OUT, _E.PARTIAL_REFUND): _S.PAID_OUT,
    (_S.PAID_OUT, _E.FULL_REFUND): _S.REVERSED,
}

SETTLED_STATES: Final = frozenset({CommissionState.SETTLED, CommissionState.PAID_OUT})
TERMINAL_STATES: Final = frozenset({CommissionState.INVALID, CommissionState.REVERSED})


def transition(state: CommissionState, event: CommissionEvent) -> CommissionState:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise CommissionTransitionInvalid(
            state=state.value,
            event=event.value,
            state_zh=COMMISSION_STATE_LABELS[state],
            event_zh=COMMISSION_EVENT_LABELS[event],
        ) from None


def settles_at(received_at: datetime, hold_days: int) -> datetime:
    """When the hold ends: exactly ``hold_days`` × 24 h after the confirmed receipt (UTC).

    Whole 24-hour days rather than Shanghai calendar days: "确认收货后 7 天" is read by people as
    seven days later at the same time, and it needs no time-zone rule in set-based SQL.
    """
    return ensure_aware(received_at) + timedelta(days=check_hold_days(hold_days))


def settle_due(
    received_at: datetime | None, hold_days: int, now: datetime, aftersale_open: bool
) -> bool:
    """True when a pending commission may settle: received, hold over (inclusive), no after-sale."""
    days = check_hold_days(hold_days)
    current = ensure_aware(now)
    if received_at is None or aftersale_open:
        return False
    return current >= settles_at(received_at, days)


def paid_out_prefix(settled_amounts_fen: Sequence[int], budget_fen: int) -> int:
    """How many settled commissions, oldest first, the money already paid out covers.

    Withdrawals move amounts, not commissions, so "paid out" is a first-in first-out coverage:
    the longest prefix whose running total is within what was transferred to the promoter and not
    yet attributed to a paid-out commission. A reversal after payout shrinks the covered total, and
    the freed budget covers the next settled commission (the reversal netted against it).
    """
    if budget_fen <= 0:
        return 0
    covered = 0
    for count, amount in enumerate(settled_amounts_fen):
        if amount < 0:
            raise ValueError("a settled commission cannot be negative")
        covered += amount
        if covered > budget_fen:
            return count
    return len(settled_amounts_fen)


# --- refunds ------------------------------------------------------------------------------------


class AdjustmentKind(enum.StrEnum):
    RECOMPUTE = "recompute"
    """Before settlement: the estimated/pending amounts are replaced by the recomputed ones."""
    REVERSAL = "reversal"
    """After settlement: entries with the (negative) deltas are appended; balances may go < 0."""


@dataclass(frozen=True)
class CommissionDelta:
    """after − before per party. The pool, L1 and L2 deltas of a refund are never positive; the
    platform's kept share may move by a fen either way (it is take − L2, two floors)."""

    pool_fen: int
    l1_fen: int
    l2_fen: int
    platform_kept_fen: int

    @classmethod
    def between(cls, before: CommissionSplit, after: CommissionSplit) -> CommissionDelta:
        return cls(
            pool_fen=after.pool_fen - before.pool_fen,
            l1_fen=after.l1_fen - before.l1_fen,
            l2_fen=after.l2_fen - before.l2_fen,
            platform_kept_fen=after.platform_kept_fen - before.platform_kept_fen,
        )


@dataclass(frozen=True)
class CommissionAdjustment:
    kind: AdjustmentKind
    event: CommissionEvent
    state: CommissionState
    """The state after the refund."""
    before: CommissionSplit
    after: CommissionSplit
    delta: CommissionDelta


def adjust_for_refund(
    snapshot: CommissionSnapshot,
    *,
    state: CommissionState,
    refunded_before_fen: int,
    refund_fen: int,
) -> CommissionAdjustment:
    """Recompute a line's commission after a refund, at the frozen rates.

    The new amounts are always the split of (paid − all refunds), so any sequence of partial
    refunds ends exactly where one refund of the same total would, and a full refund after
    settlement reverses each party's original amount to the fen.
    """
    if isinstance(refund_fen, bool) or not isinstance(refund_fen, int) or refund_fen < 1:
        raise RefundAmountInvalid(value=refund_fen)
    before = split_commission(snapshot, refunded_before_fen)
    refunded_total = check_fen(refunded_before_fen, "refunded_fen", "已退款金额") + refund_fen
    after = split_commission(snapshot, refunded_total)
    full = refunded_total == snapshot.paid_fen
    event = CommissionEvent.FULL_REFUND if full else CommissionEvent.PARTIAL_REFUND
    return CommissionAdjustment(
        kind=AdjustmentKind.REVERSAL if state in SETTLED_STATES else AdjustmentKind.RECOMPUTE,
        event=event,
        state=transition(state, event),
        before=before,
        after=after,
        delta=CommissionDelta.between(before, after),
    )


# --- fraud signals ------------------------------------------------------------------------------


class FraudReason(enum.StrEnum):
    BUYER_IS_PROMOTER = "buyer_is_promoter"
    SAME_PHONE = "same_phone"
    SAME_ADDRESS = "same_address"
    SHARED_DEVICE = "shared_device"
    SHARED_IP = "shared_ip"
    VELOCITY = "velocity"


FRAUD_REASON_LABELS: Final = {
    FraudReason.BUYER_IS_PROMOTER: "买家即推手本人",
    FraudReason.SAME_PHONE: "买家手机号与推手相同",
    FraudReason.SAME_ADDRESS: "收货地址与推手相同",
    FraudReason.SHARED_DEVICE: "24 小时内与推手使用同一设备",
    FraudReason.SHARED_IP: "24 小时内与推手使用同一 IP",
    FraudReason.VELOCITY: "推手名下短时间内订单过多",
}


@dataclass(frozen=True)
class FraudIdentity:
    """Who a buyer or a promoter is, as blind hashes. None or "" never matches anything."""

    user_id: int | None = None
    phone_hash: str | None = None
    address_hashes: frozenset[str] = frozenset()


class NetworkKind(enum.StrEnum):
    DEVICE = "device"
    IP = "ip"


@dataclass(frozen=True)
class NetworkSighting:
    kind: NetworkKind
    value_hash: str
    seen_at: datetime


def _recent_hashes(
    sightings: Sequence[NetworkSighting], kind: NetworkKind, start: datetime, end: datetime
) -> set[str]:
    return {
        sighting.value_hash
        for sighting in sightings
        if sighting.kind == kind
        and sighting.value_hash
        and start <= ensure_aware(sighting.seen_at) <= end
    }


def fraud_reasons(
    policy: CommissionPolicy,
    *,
    ordered_at: datetime,
    buyer: FraudIdentity,
    promoter: FraudIdentity,
    buyer_sightings: Sequence[NetworkSighting] = (),
    promoter_sightings: Sequence[NetworkSighting] = (),
    attributed_order_times: Sequence[datetime] = (),
) -> tuple[FraudReason, ...]:
    """Why this order's commission should be held for review (empty: no reason), in enum order.

    - Same person: same user, or same phone hash. Skipped when the policy pays self-purchase
      commission (自购省钱), since a self-purchase is then legitimate and holding every one would
      bury the review queue. Same address is always checked (a second account at home).
    - Shared device / IP: both used the same device (or IP) hash within
      ``shared_network_window_hours`` before the order, boundaries inclusive.
    - Velocity: ``attributed_order_times`` (the promoter's attributed orders, this one included)
      in the ``velocity_window_minutes`` up to the order, inclusive, number more than
      ``velocity_max_orders``.
    """
    end = ensure_aware(ordered_at)
    reasons: list[FraudReason] = []
    if not policy.self_purchase_commission:
        if buyer.user_id is not None and buyer.user_id == promoter.user_id:
            reasons.append(FraudReason.BUYER_IS_PROMOTER)
        if buyer.phone_hash and buyer.phone_hash == promoter.phone_hash:
            reasons.append(FraudReason.SAME_PHONE)
    shared_addresses = {address for address in buyer.address_hashes if address}
    if shared_addresses & promoter.address_hashes:
        reasons.append(FraudReason.SAME_ADDRESS)
    start = end - timedelta(hours=policy.shared_network_window_hours)
    for kind, reason in (
        (NetworkKind.DEVICE, FraudReason.SHARED_DEVICE),
        (NetworkKind.IP, FraudReason.SHARED_IP),
    ):
        buyer_hashes = _recent_hashes(buyer_sightings, kind, start, end)
        if buyer_hashes & _recent_hashes(promoter_sightings, kind, start, end):
            reasons.append(reason)
    velocity_start = end - timedelta(minutes=policy.velocity_window_minutes)
    recent = sum(1 for at in attributed_order_times if velocity_start <= ensure_aware(at) <= end)
    if recent > policy.velocity_max_orders:
        reasons.append(FraudReason.VELOCITY)
    return tuple(reasons)


def hold_required(reasons: Sequence[FraudReason]) -> bool:
    """Any reason at all sends the commission to review (product.md: on hold)."""
    return len(reasons) > 0
